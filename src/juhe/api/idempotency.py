"""`Idempotency-Key` on POSTs that move money: same key and body → the stored answer again;
same key, other body → 409 `idempotency_key_reused`. Records live `idempotency_ttl_hours`.

The record is written in the same database transaction as the effect, so an answer is
stored if and only if the effect happened."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from juhe.api.errors import ApiError
from juhe.config import get_settings
from juhe.db.models import IdempotencyRecord
from juhe.db.types import utcnow
from juhe.merchants import Principal

KEY_LENGTH_MAX = 255


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise ApiError(400, "idempotency_key_required", "this request moves money: send an Idempotency-Key header")
    if len(key) > KEY_LENGTH_MAX:
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key is at most {KEY_LENGTH_MAX} characters")
    return key


def request_fingerprint(request: Request, body: BaseModel | None) -> str:
    # The parsed body, canonically ordered: key order and whitespace do not make a new request.
    canonical = json.dumps(body.model_dump(mode="json") if body else None, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()


def run_idempotent(
    request: Request,
    session: Session,
    principal: Principal,
    body: BaseModel | None,
    effect: Callable[[str], tuple[int, dict]],
) -> JSONResponse:
    """Run `effect(scope)` once per key; it returns (status, body) and writes through `session`.

    `scope` names this request for downstream idempotency (the ledger's keys): a hash of key
    and body, so it fits any key length, and a key reused after its record expired, with
    another body, is a new request there too."""
    key = idempotency_key(request)
    fingerprint = request_fingerprint(request, body)
    now = utcnow()
    record = session.get(IdempotencyRecord, (principal.merchant_id, key))
    if record is not None and record.expires_at <= now:
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.merchant_id == principal.merchant_id, IdempotencyRecord.key == key))
        record = None
    if record is not None:
        if record.request_hash != fingerprint:
            raise ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
        return _response(record.status_code, record.response_body, replayed=True)
    status, answer = effect(hashlib.sha256(f"{key}\n{fingerprint}".encode()).hexdigest())
    payload = json.dumps(answer, default=str).encode()
    try:
        with session.begin_nested():
            session.add(IdempotencyRecord(
                merchant_id=principal.merchant_id, key=key, request_hash=fingerprint, status_code=status,
                response_body=payload, created_at=now,
                expires_at=now + timedelta(hours=get_settings().idempotency_ttl_hours),
            ))
    except IntegrityError:
        # A concurrent twin stored its answer first; the effect itself is idempotent by key.
        raise ApiError(409, "idempotency_request_in_progress", "a request with this Idempotency-Key is in flight; retry") from None
    return _response(status, payload, replayed=False)


def _response(status: int, payload: bytes, *, replayed: bool) -> JSONResponse:
    response = JSONResponse(json.loads(payload), status_code=status)
    response.headers["Idempotent-Replayed"] = "true" if replayed else "false"
    return response


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow()))
    return result.rowcount or 0


