"""The audit trail, newest first: a merchant's own records (admin and risk keys: compliance
reviews it), or every record for the platform operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from juhe.api.deps import Caller, ReadSessionDep, caller
from juhe.audit.models import AuditRecord
from juhe.db.pages import PAGE_MAX, Page, keyset, split

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Caller, Depends(caller("risk"))]


def record_view(r: AuditRecord) -> dict:
    return {"id": str(r.id), "merchant_id": str(r.merchant_id) if r.merchant_id else None, "at": r.at.isoformat(),
            "actor": r.actor, "action": r.action, "object_type": r.object_type, "object_id": r.object_id,
            "outcome": r.outcome, "status_code": r.status_code, "origin": r.origin, "hash": r.hash, "prev_hash": r.prev_hash}


@router.get("")
def list_audit_records(
    auditor: Auditor, session: ReadSessionDep, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[int | None, Query(ge=1)] = None, actor: Annotated[str | None, Query(max_length=80)] = None,
    object_id: Annotated[str | None, Query(max_length=80)] = None,
    outcome: Annotated[str | None, Query(pattern="^(succeeded|failed)$")] = None,
) -> dict:
    query = select(AuditRecord)
    if auditor.scope is not None:
        query = query.where(AuditRecord.merchant_id == auditor.scope)
    if actor:
        query = query.where(AuditRecord.actor == actor)
    if object_id:
        query = query.where(AuditRecord.object_id == object_id)
    if outcome:
        query = query.where(AuditRecord.outcome == "succeeded" if outcome == "succeeded" else AuditRecord.outcome.like("failed:%"))
    rows, next_cursor = split(session.scalars(keyset(query, AuditRecord.id, limit=limit, cursor=cursor)).all(), limit)
    return Page([record_view(r) for r in rows], next_cursor).as_json()
