"""At maturity the buyer repays the funder: the worker repays each financing that is due, each in
its own transaction; one whose buyer cannot pay yet stays outstanding and is tried next round."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

from juhe.db.engine import Database
from juhe.scf import service
from juhe.scf.errors import ScfError
from juhe.scf.models import ScfFinancing

log = logging.getLogger(__name__)
INTERVAL_S = 60.0  # maturities are days: a minute late is on time, and a buyer short of money is not asked every second
BATCH_MAX = 100


def repay_due(db: Database, now: datetime, limit: int = BATCH_MAX) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(repaid, still outstanding) of the financings due by `now`."""
    with db.reader() as session:
        due = service.due(session, service.local_date(now), limit)
    repaid, short = [], []
    for financing_id in due:
        try:
            with db.session() as session, session.begin():
                buyer = session.get(ScfFinancing, financing_id).buyer_merchant_id
                service.repay(session, buyer, financing_id, now)
            repaid.append(financing_id)
        except ScfError as e:
            log.warning("scf financing %s not repaid: %s %s", financing_id, e.code, e)
            short.append(financing_id)
    return repaid, short


class ScfRepayments:
    def __init__(self, db: Database):
        self.db, self._next_at = db, 0.0

    def run_if_due(self, now: datetime) -> None:
        if time.monotonic() < self._next_at:
            return
        self._next_at = time.monotonic() + INTERVAL_S
        repay_due(self.db, now)
