"""A database with one merchant and payers the risk engine already knows, and helpers that read
the ledger the way finance would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from juhe.db.engine import Database
from juhe.db.models import Account
from juhe.ledger import verify_ledger
from juhe.merchants import create_merchant
from juhe.risk.models import RiskPayerProfile

T0 = datetime(2026, 3, 2, 2, tzinfo=timezone.utc)


@dataclass
class Books:
    db: Database
    merchant_id: uuid.UUID

    def balance(self, code: str, currency: str = "CNY") -> int:
        """Posted balance in the account's normal direction (what a receivable is owed, a payable owes)."""
        with self.db.reader() as session:
            row = session.scalar(select(Account).where(Account.code == code, Account.currency == currency))
            if row is None:
                return 0
            sign = 1 if row.normal_side == "debit" else -1
            return sign * (row.debits_posted - row.credits_posted)

    def pending(self, code: str, currency: str = "CNY") -> int:
        with self.db.reader() as session:
            row = session.scalar(select(Account).where(Account.code == code, Account.currency == currency))
            return 0 if row is None else row.debits_pending + row.credits_pending

    def ledger_ok(self) -> bool:
        with self.db.engine.connect() as conn, conn.begin():
            report = verify_ledger(conn)
            return report.ok


def known_payer(session, customer_id: str, *, payments: int = 30, typical_minor: int = 40_000, days: int = 200,
                now: datetime = T0) -> None:
    """What the risk engine's feature store would have learned from the payer's payments."""
    session.add(RiskPayerProfile(payer_id=customer_id, first_seen_at=now - timedelta(days=days), payments=payments,
                                 devices=[], cards=[], regions=[], amounts={"CNY": [typical_minor] * 10}, hours=[0] * 24,
                                 last_at=now))


@pytest.fixture(params=["sqlite_url", "pg_url"])
def books(request):
    db = Database(request.getfixturevalue(request.param))
    with db.session() as session, session.begin():
        merchant = create_merchant(session, "Lotus Mart", "retail")
        known_payer(session, "alice")
        known_payer(session, "newbie", payments=1, days=2)
        merchant_id = merchant.id
    yield Books(db, merchant_id)
    db.dispose()


# The running stack (API + worker + every sandbox) of the payments tests, for repayments end to end.
from tests.payments.conftest import data_dir, open_as_browser, stack  # noqa: E402,F401
