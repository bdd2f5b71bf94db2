"""The merchant's audit trail, newest first (admin and risk keys: compliance reviews it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from juhe.api.deps import ReadSessionDep, require
from juhe.audit.models import AuditRecord
from juhe.db.pages import PAGE_MAX, Page, keyset, split
from juhe.merchants import Principal

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Principal, Depends(require("risk"))]


def record_view(r: AuditRecord) -> dict:
    return {"id": str(r.id), "at": r.at.isoformat(), "actor": r.actor, "action": r.action, "object_type": r.object_type,
            "object_id": r.object_id, "outcome": r.outcome, "status_code": r.status_code, "origin": r.origin,
            "hash": r.hash, "prev_hash": r.prev_hash}


@router.get("")
def list_audit_records(principal: Auditor, session: ReadSessionDep, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
                       cursor: Annotated[int | None, Query(ge=1)] = None) -> dict:
    query = select(AuditRecord).where(AuditRecord.merchant_id == principal.merchant_id)
    rows, next_cursor = split(session.scalars(keyset(query, AuditRecord.id, limit=limit, cursor=cursor)).all(), limit)
    return Page([record_view(r) for r in rows], next_cursor).as_json()
