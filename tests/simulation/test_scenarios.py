"""The back-fill's scenarios through their own services and the channel sandboxes: a wallet scans
the store's static code and the till's dynamic one, a Huabei installment sale, BNPL checkouts
offered to half the payers (bought on the line, repaid on time or late with a late fee, or left),
memberships collected on an Alipay agreement (one revoked in the wallet: dunning, then canceled);
the books verify at the end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from juhe.bnpl.models import BnplInstallment, BnplOrder
from juhe.bnpl.service import exposure
from juhe.channels.simkit import Faults
from juhe.db.engine import Database
from juhe.demo import seed_demo
from juhe.installments.models import InstallmentSale
from juhe.ledger import verify_ledger
from juhe.payments.models import Payment
from juhe.qrcodes.models import QrCode
from juhe.simulation import daily
from juhe.simulation.backfill import CHAOS_FAULTS, FAULTED, Backfill, Tally
from juhe.simulation.business import Sale
from juhe.simulation.scenarios import habit
from juhe.subscriptions.models import Invoice, Subscription
from tests.bnpl.conftest import known_payer

T0 = datetime(2026, 11, 2, 3, tzinfo=timezone.utc)  # a Monday, 11:00 in Beijing


def payer(habit_wanted: str, offered: bool, start: int) -> str:
    """A customer id whose fixed habit and BNPL offer are the ones wanted."""
    return next(f"cust-{n:04d}" for n in range(start, 4000) if habit(f"cust-{n:04d}") == habit_wanted and (n % 2 == 0) == offered)


ON_TIME, LATE, NOT_OFFERED = payer("on_time", True, 0), payer("late", True, 0), payer("on_time", False, 0)


def sales() -> list[Sale]:
    at = T0
    return [
        Sale(at, "store_qr", 45_00, 1, "alipay", store="sh-01", customer="cust-0001", extra={"qr": "static"}),
        Sale(at, "store_qr", 32_50, 2, "wechatpay", store="bj-01", customer="cust-0002", extra={"qr": "dynamic"}),
        Sale(at, "installment", 3_600_00, 3, "alipay", store="sh-01", customer="cust-0003", extra={"periods": 6}),
        *(Sale(at, "bnpl", 800_00, 4 + i, "wechatpay", customer=customer, extra={
            "offered": offered, "within_means": False, "installments": 3})
          for i, (customer, offered) in enumerate(((ON_TIME, True), (LATE, True), (NOT_OFFERED, False)))),
        Sale(at, "bnpl", 120_00, 7, "wechatpay", customer=NOT_OFFERED, extra={"offered": False, "within_means": True, "installments": 1}),
        Sale(at, "subscribe", 19_90, 8, "alipay", customer="member-1", extra={"revokes": False}),
        Sale(at, "subscribe", 19_90, 9, "alipay", customer="member-2", extra={"revokes": True}),
    ]


def play(tmp_path, chaos: bool = False):
    db = Database(f"sqlite:///{tmp_path}/juhe.db")
    with time_machine.travel(T0 - timedelta(hours=1)):
        merchant_id = seed_demo(db, tmp_path / "data" / "demo-keys.json")["merchants"][0]["id"]
    with db.session() as session, session.begin():
        for customer in (ON_TIME, LATE, NOT_OFFERED):
            known_payer(session, customer, now=T0)
    backfill = Backfill(db, tmp_path / "data", "http://127.0.0.1:8000", chaos=chaos)
    tally = Tally()

    async def month():
        try:
            await backfill.prepare(uuid.UUID(merchant_id), seed=1)
            if chaos:
                for code in FAULTED:
                    backfill.set_faults(code, Faults(**CHAOS_FAULTS, seed=7))
            with time_machine.travel(T0, tick=True) as clock:
                await asyncio.gather(*(backfill._sale(sale, tally) for sale in sales()))
                # Day ends: shipping; the trial's end and the dunning retries; the first due date, before and after.
                for days in (0, 8, 9, 12, 14, 28.5, 34, 41):
                    clock.move_to(T0 + timedelta(days=days, hours=12))
                    await daily.catch_up(backfill.ctx)  # what lost notifications did not tell, the poller asks
                    await backfill.scenarios.close_day(backfill._repayer_acts)
                await daily.catch_up(backfill.ctx)
        finally:
            await backfill.close()

    asyncio.run(month())
    return db, backfill.scenarios.bnpl.figures()


@pytest.fixture
def played(tmp_path):
    db, figures = play(tmp_path)
    yield db, figures
    db.dispose()


def test_every_scenario_is_played_through_its_service_and_the_books_verify(played):
    db, bnpl = played
    with db.reader() as session:
        payments = session.scalars(select(Payment).where(Payment.purpose.is_(None) | (Payment.purpose != "bnpl_repayment"))).all()
        assert {(p.scenario, p.channel, p.status) for p in payments} >= {
            ("wap", "alipay", "succeeded"), ("jsapi", "wechatpay", "succeeded")}, [  # the stand's code, the till's code
            (p.scenario, p.channel, p.status, p.failure_code, p.subject) for p in payments]
        till = session.scalar(select(QrCode).where(QrCode.kind == "dynamic"))
        assert session.get(Payment, till.payment_id).status == "succeeded"
        sale = session.scalar(select(InstallmentSale))
        assert (sale.periods, sale.fee_bearer, session.get(Payment, sale.payment_id).status) == (6, "merchant", "succeeded")

        orders = {o.customer_id: o for o in session.scalars(select(BnplOrder))}
        assert set(orders) == {ON_TIME, LATE} and all(o.status == "captured" for o in orders.values())
        first = {c: session.scalar(select(BnplInstallment).where(BnplInstallment.order_id == o.id, BnplInstallment.seq == 1))
                 for c, o in orders.items()}
        assert first[ON_TIME].paid_at < first[ON_TIME].due_at and first[ON_TIME].late_fee_minor == 0
        assert first[LATE].late_fee_minor > 0 and first[LATE].paid_at > first[LATE].due_at
        assert first[LATE].paid_minor == first[LATE].principal_minor + first[LATE].late_fee_minor

        subs = {s.customer_id: s for s in session.scalars(select(Subscription))}
        assert subs["member-1"].status == "active"
        assert (subs["member-2"].status, subs["member-2"].cancel_reason) == ("canceled", "payment_failed")
        paid = session.scalars(select(Invoice).where(Invoice.subscription_id == subs["member-1"].id, Invoice.status == "paid")).all()
        assert [i.amount_due_minor for i in paid] == [19_90, 19_90]  # the trial's end, then a month on
        receivable, owed = exposure(session, "CNY")
        assert receivable == owed > 0
    assert bnpl["checkouts_offered"] == 2 and bnpl["checkouts_not_offered"] == 2 and bnpl["bought_on_line"] == 2
    assert (bnpl["conversion_with_bnpl"], bnpl["conversion_without_bnpl"]) == (1.0, 0.5)
    with db.engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_under_chaos_every_scenario_ends_and_the_books_still_verify(tmp_path):
    """Every channel times out, fails and loses or repeats notifications all along (`juhe simulate --chaos`)."""
    db, bnpl = play(tmp_path, chaos=True)
    try:
        with db.reader() as session:
            stuck = session.scalars(select(Payment.status).where(Payment.status.not_in(("succeeded", "failed", "canceled")))).all()
            assert stuck == []
            assert session.scalar(select(func.count()).select_from(Subscription)) == 2
            receivable, owed = exposure(session, "CNY")
            assert receivable == owed
        assert bnpl["checkouts_offered"] == 2
        with db.engine.connect() as conn:
            assert verify_ledger(conn).ok
    finally:
        db.dispose()
