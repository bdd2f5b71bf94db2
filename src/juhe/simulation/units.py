"""The retailer's stores and business lines by code, and its settlement profile for the back-fill."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from juhe.db.engine import Database
from juhe.db.models import BusinessLine, Store
from juhe.settlement.models import SettlementProfile
from juhe.settlement.profiles import ProfileIn, set_profile

# Lotus Mart's own account, paid T+1 per store (the web shop and app apart, as one batch).
PAYOUT = ProfileIn("Lotus Mart Co., Ltd.", "6222020200556677889", "102290024433", cycle="T+1", split_by="store")


@dataclass(frozen=True)
class Units:
    merchant_id: uuid.UUID
    stores: dict[str, uuid.UUID]
    lines: dict[str, uuid.UUID]

    def store(self, code: str | None) -> uuid.UUID | None:
        return self.stores[code] if code else None

    def line(self, code: str | None) -> uuid.UUID | None:
        return self.lines[code] if code else None


def load_units(db: Database, merchant_id: uuid.UUID) -> Units:
    """The merchant's units; gives it a settlement profile if it has none, so its days settle."""
    with db.session() as session, session.begin():
        stores = {s.code: s.id for s in session.scalars(select(Store).where(Store.merchant_id == merchant_id))}
        lines = {b.code: b.id for b in session.scalars(select(BusinessLine).where(BusinessLine.merchant_id == merchant_id))}
        if session.get(SettlementProfile, merchant_id) is None:
            set_profile(session, merchant_id, PAYOUT)
    return Units(merchant_id, stores, lines)
