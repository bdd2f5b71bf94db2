"""Fixtures for settlement: the demo merchants on a fresh database, and a `Books` helper that
books succeeded payments and refunds exactly as the payment flows do (rows + ledger postings),
marks them reconciled, and reads balances back.

Test modules cannot import this file (--import-mode=importlib); they reach helpers through
the fixtures."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from juhe.db.engine import Database
from juhe.db.models import Account, LedgerTransaction
from juhe.demo import seed_demo
from juhe.ledger import post, verify_ledger
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment, PaymentAttempt, Refund
from juhe.payments.numbers import channel_number
from juhe.payments.outcomes import refund_fee_split
from juhe.payments.postings import collection_posting, fees_for, payment_accounts, refund_posting
from juhe.recon.models import ReconItem
from juhe.settlement.calendar import zone_of
from juhe.settlement.models import PayoutFile, SettlementBatch, SettlementItem
from juhe.settlement.payouts import poll_payouts
from juhe.settlement.profiles import ProfileIn, set_profile

SHANGHAI = zone_of("Asia/Shanghai")
PAYOUT = {"payout_name": "Lotus Mart Co Ltd", "payout_account": "6222020200112233445", "payout_bank": "102290024433"}


@dataclass
class Books:
    db: Database
    merchants: list[dict]

    def merchant(self, index: int = 0) -> uuid.UUID:
        return uuid.UUID(self.merchants[index]["id"])

    def stores(self, index: int = 0) -> list[uuid.UUID]:
        from juhe.db.models import Store

        with self.db.reader() as session:
            return list(session.scalars(select(Store.id).where(Store.merchant_id == self.merchant(index)).order_by(Store.code)))

    def profile(self, index: int = 0, **changes) -> None:
        with self.db.session() as session, session.begin():
            set_profile(session, self.merchant(index), ProfileIn(**{**PAYOUT, **changes}))

    def pay(self, amount_minor: int, paid_at: datetime, *, index: int = 0, store_id=None, line_id=None,
            channel: str = "alipay", reconciled: bool = True, fee_bps: int = 60) -> uuid.UUID:
        merchant_id = self.merchant(index)
        with self.db.session() as session, session.begin():
            payment_id, attempt_id = uuid.uuid4(), uuid.uuid4()
            fees = fees_for(amount_minor, fee_bps, 38)
            accounts = payment_accounts(session.connection(), merchant_id, store_id, line_id, channel, "CNY")
            txn = post(session.connection(), collection_posting(
                f"payment:{attempt_id}:collected", merchant_id, accounts, amount_minor, fees, {"payment_id": str(payment_id)}),
                       now=paid_at)  # booked when paid: the reserve proof reads the ledger as of a day
            session.add(Payment(
                id=payment_id, merchant_id=merchant_id, store_id=store_id, business_line_id=line_id,
                idempotency_key=f"k-{payment_id}", request_hash="x", amount_minor=amount_minor, currency="CNY",
                scenario="qr", subject="tea", status="succeeded", channel=channel, active_attempt_id=attempt_id,
                channel_order_no=channel_number(), refunded_minor=0, fee_minor=fees.merchant_fee_minor,
                channel_fee_minor=fees.channel_fee_minor, ledger_txn_id=txn.id, expires_at=paid_at + timedelta(minutes=15),
                paid_at=paid_at, poll_count=0, created_at=paid_at, updated_at=paid_at,
            ))
            session.flush()
            session.add(PaymentAttempt(id=attempt_id, merchant_id=merchant_id, payment_id=payment_id, channel=channel,
                                       order_no=channel_number(), status="succeeded"))
        if reconciled:
            self.reconcile("payment", payment_id)
        return payment_id

    def refund(self, payment_id: uuid.UUID, amount_minor: int, at: datetime, *, reconciled: bool = True,
               status: str = "succeeded") -> uuid.UUID:
        with self.db.session() as session, session.begin():
            payment = session.get(Payment, payment_id)
            refund = Refund(
                id=uuid.uuid4(), merchant_id=payment.merchant_id, payment_id=payment.id, attempt_id=payment.active_attempt_id,
                refund_no=channel_number(), idempotency_key=f"r-{uuid.uuid4()}", request_hash="x", amount_minor=amount_minor,
                currency="CNY", reason="", status=status, poll_count=0, created_at=at, updated_at=at,
            )
            session.add(refund)
            fees = refund_fee_split(payment, amount_minor)
            accounts = payment_accounts(session.connection(), payment.merchant_id, payment.store_id, payment.business_line_id,
                                        payment.channel, "CNY")
            refund.ledger_txn_id = post(session.connection(), refund_posting(
                f"refund:{refund.id}:booked", payment.merchant_id, accounts, amount_minor, fees, {}), now=at).id
            payment.refunded_minor += amount_minor
        if reconciled:
            self.reconcile("refund", payment_id, refund.id)
        return refund.id

    def reconcile(self, kind: str, payment_id: uuid.UUID, refund_id: uuid.UUID | None = None, category: str = "matched") -> None:
        with self.db.session() as session, session.begin():
            payment = session.get(Payment, payment_id)
            session.add(ReconItem(merchant_id=payment.merchant_id, channel=payment.channel, kind=kind, payment_id=payment_id,
                                  refund_id=refund_id, category=category,
                                  business_date=payment.paid_at.astimezone(SHANGHAI).date()))

    def available(self, code: str) -> int:
        """What a payable can still give: posted credit balance less outgoing holds."""
        with self.db.reader() as session:
            row = session.execute(select(Account).where(Account.code == code)).scalar_one()
            return row.credits_posted - row.debits_posted - row.debits_pending

    def posted(self, code: str) -> int:
        """Posted balance in the account's normal direction."""
        with self.db.reader() as session:
            row = session.execute(select(Account).where(Account.code == code)).scalar_one()
            sign = 1 if row.normal_side == "debit" else -1
            return sign * (row.debits_posted - row.credits_posted)

    def batches(self, index: int | None = None) -> list[SettlementBatch]:
        with self.db.reader() as session:
            query = select(SettlementBatch).order_by(SettlementBatch.settlement_date, SettlementBatch.group_key)
            if index is not None:
                query = query.where(SettlementBatch.merchant_id == self.merchant(index))
            return list(session.scalars(query))

    def items(self, batch_id: uuid.UUID) -> list[SettlementItem]:
        with self.db.reader() as session:
            return list(session.scalars(select(SettlementItem).where(SettlementItem.batch_id == batch_id)))

    def ledger_transactions(self) -> int:
        with self.db.reader() as session:
            return session.scalar(select(func.count()).select_from(LedgerTransaction))

    def pay_out(self, bank, rounds: int = 40) -> list[PayoutFile]:
        """Poll as the worker does, against the bank sandbox, until no payout file is in flight."""

        async def worker() -> None:
            async with httpx.AsyncClient() as http:
                ctx = PaymentsContext(db=self.db, channels={"bank": bank.adapter(http)},
                                      notify_base_url="http://127.0.0.1:9/notify", poll_initial=timedelta(0))
                for _ in range(rounds):
                    await poll_payouts(ctx)
                    with self.db.reader() as session:
                        if not session.scalars(select(PayoutFile.id).where(PayoutFile.status == "submitted")).all():
                            return
                    time.sleep(0.06)  # the sandbox executes transfers 50 ms after they arrive

        asyncio.run(worker())
        with self.db.reader() as session:
            return list(session.scalars(select(PayoutFile).order_by(PayoutFile.created_at)))

    def ledger_ok(self) -> bool:
        with self.db.engine.connect() as conn, conn.begin():
            report = verify_ledger(conn)
        assert report.ok, report.problems
        return True


@pytest.fixture(scope="session")
def settlement_template(tmp_path_factory):
    """Migrated and seeded once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("settlement-template")
    db = Database(f"sqlite:///{folder}/juhe.db")
    demo = seed_demo(db, folder / "demo-keys.json")
    db.dispose()
    return folder / "juhe.db", demo


@pytest.fixture
def books(sqlite_url, settlement_template):
    path, demo = settlement_template
    shutil.copyfile(path, sqlite_url.removeprefix("sqlite:///"))
    db = Database(sqlite_url, migrate=False)
    yield Books(db, demo["merchants"])
    db.dispose()


@pytest.fixture
def pg_books(pg_url, tmp_path):
    db = Database(pg_url)
    demo = seed_demo(db, tmp_path / "demo-keys.json")
    yield Books(db, demo["merchants"])
    db.dispose()


@pytest.fixture(scope="session")
def bank_keys(tmp_path_factory):
    """The bank sandbox's RSA keys, made once per session (key generation is slow)."""
    return tmp_path_factory.mktemp("bank-keys")


@pytest.fixture
def bank(bank_keys):
    from juhe.channels.registry import start_sandbox

    running = start_sandbox("bank", bank_keys)
    yield running
    running.stop()
