"""Batch transfers (payroll, suppliers) from the merchant's funds through its corporate bank."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from juhe.api.deps import require
from juhe.api.errors import ApiError
from juhe.api.idempotency import idempotency_key
from juhe.api.payments import Ctx
from juhe.db.pages import PAGE_MAX, Page, keyset, split
from juhe.merchants import Principal
from juhe.transfers import service
from juhe.transfers.models import TransferBatch, TransferItem

router = APIRouter(prefix="/v1/transfers", tags=["transfers"])
Treasurer = Annotated[Principal, Depends(require("finance"))]
Reader = Annotated[Principal, Depends(require("finance", "risk"))]
BODY_BYTES_MAX = 5 * 1024 * 1024


@router.post("/batches", status_code=201, openapi_extra={"requestBody": {"content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
}}})
async def create_batch(
    request: Request, response: Response, principal: Treasurer, ctx: Ctx,
    category_purpose: Annotated[str | None, Query(pattern="^(SALA|SUPP|TRAD|INTC)$")] = None,
) -> dict:
    """A CSV (header: end_to_end_id, amount, currency, creditor_name, creditor_account,
    creditor_bank, remittance_info, execution_date) or a JSON list with the same keys. Every
    line is checked first; one bad line rejects the batch with every problem and its line."""
    key = idempotency_key(request)
    raw = await request.body()
    if len(raw) > BODY_BYTES_MAX:
        raise ApiError(413, "batch_too_large", f"a batch file is at most {BODY_BYTES_MAX} bytes")
    fingerprint = hashlib.sha256(f"{category_purpose}\n".encode() + raw).hexdigest()
    batch, created = await service.create_batch(ctx, principal.merchant_id, key, fingerprint, raw, category_purpose)
    response.status_code = 201 if created else 200
    response.headers["Idempotent-Replayed"] = "false" if created else "true"
    return _view(ctx, batch)


@router.get("/batches")
def list_batches(principal: Reader, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
                 cursor: uuid.UUID | None = None) -> dict:
    query = select(TransferBatch).where(TransferBatch.merchant_id == principal.merchant_id)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, TransferBatch.id, limit=limit, cursor=cursor)).all(), limit)
        return Page([service.batch_view(b, _items(session, b.id)) for b in rows], next_cursor).as_json()


@router.get("/batches/{batch_id}")
def get_batch(batch_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    return _view(ctx, _own(ctx, principal, batch_id))


@router.get("/batches/{batch_id}/file", response_class=Response)
def get_file(batch_id: uuid.UUID, principal: Reader, ctx: Ctx) -> Response:
    """The pain.001 exactly as sent to the bank."""
    batch = _own(ctx, principal, batch_id)
    return Response(batch.document, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{batch.batch_no}.xml"'})


def _own(ctx, principal: Principal, batch_id: uuid.UUID) -> TransferBatch:
    with ctx.db.reader() as session:
        batch = session.get(TransferBatch, batch_id)
    if batch is None or batch.merchant_id != principal.merchant_id:
        raise ApiError(404, "transfer_batch_not_found", f"no transfer batch {batch_id}")
    return batch


def _items(session, batch_id: uuid.UUID) -> list[TransferItem]:
    return list(session.scalars(select(TransferItem).where(TransferItem.batch_id == batch_id).order_by(TransferItem.line)))


def _view(ctx, batch: TransferBatch) -> dict:
    with ctx.db.reader() as session:
        return service.batch_view(batch, _items(session, batch.id))
