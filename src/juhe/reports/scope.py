"""Whose report it is: one merchant's (every query filtered by its id) or the platform's (all)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.models import Merchant
from juhe.reports.periods import ReportError

PLATFORM = "platform 平台"


def merchant_name(session: Session, merchant_id: uuid.UUID | None) -> str:
    if merchant_id is None:
        return PLATFORM
    name = session.scalar(select(Merchant.name).where(Merchant.id == merchant_id))
    if name is None:
        raise ReportError("unknown_merchant", f"no merchant {merchant_id}")
    return name


def scoped(query, model, merchant_id: uuid.UUID | None):
    return query if merchant_id is None else query.where(model.merchant_id == merchant_id)
