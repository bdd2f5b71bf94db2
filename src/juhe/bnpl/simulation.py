"""`juhe bnpl report`: conversion with and without BNPL, and late and default rates, over a
demo-like population run through the real BNPL service, payments core and ledger on a
throwaway database, with the clock moved day by day and the worker's job run each day.

The behaviour is an assumption, stated here so that the figures can be judged:
- a payer's history (payments, months known, usual basket) is drawn like the demo's shoppers;
  the credit line is decided from it by `bnpl.credit` (nothing is decided by the simulation);
- a checkout's basket is the usual one × a log-normal factor (median 1, σ 0.6); the payer has
  1–3 × the usual basket at hand.
  Without BNPL they buy when the basket is within what they have (less a flat 25 % who leave
  anyway); with BNPL offered, a basket beyond it is bought on the line when the line approves it;
- repayment habits: most repay two days before each due date, some ten days late, a few never;
  thin histories are likelier to never repay (which is why the credit decision declines them).
Repayments are payments through the payments core on an in-process wallet (`SimulatedWallet`),
which answers at once like a face-pay or wallet-transfer channel; every posting is the real one."""

from __future__ import annotations

import asyncio
import random
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from juhe.bnpl import service
from juhe.bnpl.dunning import run_due
from juhe.bnpl.errors import BnplError
from juhe.bnpl.models import BnplInstallment, BnplOrder
from juhe.bnpl.repayments import RepaymentRequest, start_repayment
from juhe.channels.base import ChargeSucceeded, PaymentStatus, Scenario
from juhe.db.engine import Database
from juhe.ledger import verify_database
from juhe.merchants import create_merchant
from juhe.payments.context import PaymentsContext
from juhe.payments.models import MerchantChannel
from juhe.risk.models import RiskPayerProfile

START = datetime(2026, 1, 5, 2, tzinfo=timezone.utc)
LEAVE_ANYWAY = 0.25
HABITS = (("on_time", 0.85), ("late", 0.11), ("never", 0.04))
THIN_NEVER = 0.30  # of payers with fewer than 5 payments, this many never repay
PAYERS_MAX = 20_000


class SimulatedWallet:
    """A payer's wallet that pays at once, on the simulation's clock."""

    code = "wallet_sim"
    scenarios = frozenset({Scenario.APP})
    currencies = frozenset({"CNY"})

    def __init__(self):
        self.clock = START

    async def create(self, request):
        return ChargeSucceeded(PaymentStatus(request.payment_id, "succeeded", request.amount, f"W{uuid.uuid4().hex[:20]}",
                                             self.clock))

    async def query(self, payment_id: str):
        return PaymentStatus(payment_id, "not_found")


@dataclass(frozen=True, slots=True)
class Payer:
    customer_id: str
    payments: int
    tenure_days: int
    typical_minor: int
    habit: str
    basket_minor: int
    at_hand_minor: int
    leaves_anyway: bool
    installments: int


def payers(n: int, seed: int) -> list[Payer]:
    rng = random.Random(seed)
    found = []
    for i in range(n):
        payments = min(int(rng.lognormvariate(2.6, 1.0)), 200)
        typical = rng.randrange(50, 800) * 100
        habit = "never" if payments < 5 and rng.random() < THIN_NEVER else rng.choices(
            [h for h, _ in HABITS], [w for _, w in HABITS])[0]
        found.append(Payer(f"sim-{i:05d}", payments, rng.randrange(0, 720), typical, habit,
                           int(typical * rng.lognormvariate(0, 0.6)), int(typical * rng.uniform(1.0, 3.0)),
                           rng.random() < LEAVE_ANYWAY, rng.choice((1, 3, 4))))
    return found


def report(n: int = 500, seed: int = 7, database_url: str | None = None) -> dict:
    if not 1 <= n <= PAYERS_MAX:
        raise ValueError(f"payers is 1–{PAYERS_MAX}")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(database_url or f"sqlite:///{Path(tmp) / 'bnpl-sim.db'}")
        try:
            return asyncio.run(_run(db, payers(n, seed)))
        finally:
            db.dispose()


async def _run(db: Database, population: list[Payer]) -> dict:
    wallet = SimulatedWallet()
    ctx = PaymentsContext(db=db, channels={wallet.code: wallet}, notify_base_url="http://127.0.0.1:9/v1/notify")
    merchant_id = await db.run(_seed, db, population)
    without = sum(1 for p in population if not p.leaves_anyway and p.basket_minor <= p.at_hand_minor)
    offered = await db.run(_checkouts, db, merchant_id, population)
    habits = {p.customer_id: p for p in population}
    day, end = START, START + timedelta(days=30 * 6 + 120)
    while day <= end:
        wallet.clock = day
        for order_id, amount in await db.run(_due_repayments, db, habits, day):
            await start_repayment(ctx, merchant_id, order_id, f"sim:{order_id}:{day.date()}", "sim",
                                  RepaymentRequest(amount, Scenario.APP))
        await db.run(run_due, db, day)
        day += timedelta(days=1)
    return await db.run(_figures, db, len(population), without, offered)


def _seed(db: Database, population: list[Payer]) -> uuid.UUID:
    with db.session() as session, session.begin():
        merchant = create_merchant(session, "Simulated shop", "retail")
        session.add(MerchantChannel(merchant_id=merchant.id, channel=SimulatedWallet.code, enabled=True,
                                    merchant_fee_bps=60, channel_fee_bps=35, priority=1))
        for p in population:
            session.add(RiskPayerProfile(
                payer_id=p.customer_id, first_seen_at=START - timedelta(days=p.tenure_days), payments=p.payments,
                devices=[], cards=[], regions=[], amounts={"CNY": [p.typical_minor] * 10}, hours=[0] * 24, last_at=START))
        return merchant.id


def _checkouts(db: Database, merchant_id: uuid.UUID, population: list[Payer]) -> dict[str, int]:
    """Checkouts with BNPL offered: what the payer cannot pay now goes to their line, if it approves."""
    seen = {"beyond_means": 0, "bought_on_line": 0, "line_declined": 0, "over_limit": 0}
    for p in population:
        if p.leaves_anyway or p.basket_minor <= p.at_hand_minor:
            continue
        seen["beyond_means"] += 1
        with db.session() as session, session.begin():
            line = service.decide_line(session, merchant_id, p.customer_id, "CNY", START)
            if line.status != "active":
                seen["line_declined"] += 1
                continue
            try:
                order = service.approve_order(session, merchant_id, f"sim:{p.customer_id}", service.NewOrder(
                    p.customer_id, p.basket_minor, "CNY", "Basket", p.installments), START)
            except BnplError:
                seen["over_limit"] += 1
                continue
            service.capture_order(session, merchant_id, order.id, None, START + timedelta(days=1))
            seen["bought_on_line"] += 1
    return seen


def _due_repayments(db: Database, habits: dict[str, Payer], day: datetime) -> list[tuple[uuid.UUID, int]]:
    """Each installment a payer repays today, by their habit: two days early, ten days late, or never."""
    offsets = {"on_time": timedelta(days=-2), "late": timedelta(days=10)}
    due = []
    with db.reader() as session:
        rows = session.execute(select(BnplInstallment, BnplOrder.customer_id).join(BnplOrder, BnplOrder.id == BnplInstallment.order_id)
                               .where(BnplOrder.status == "captured")).all()
        for part, customer_id in rows:
            offset = offsets.get(habits[customer_id].habit)
            owed = part.principal_minor + part.late_fee_minor - part.paid_minor
            if offset is not None and owed > 0 and (part.due_at + offset).date() == day.date():
                due.append((part.order_id, owed))
    return due


def _figures(db: Database, checkouts: int, without: int, offered: dict[str, int]) -> dict:
    with db.reader() as session:
        orders = dict(session.execute(select(BnplOrder.status, func.count()).group_by(BnplOrder.status)).all())
        parts = session.scalar(select(func.count()).select_from(BnplInstallment))
        late = session.scalar(select(func.count()).select_from(BnplInstallment).where(BnplInstallment.late_fee_minor > 0))
        sums = session.execute(select(func.coalesce(func.sum(BnplOrder.written_off_minor), 0),
                                      func.coalesce(func.sum(BnplOrder.fees_minor), 0),
                                      func.coalesce(func.sum(BnplOrder.merchant_fee_minor), 0),
                                      func.coalesce(func.sum(BnplOrder.principal_minor), 0))).one()
        owed, receivable = service.exposure(session, "CNY")
    captured = sum(orders.get(s, 0) for s in ("captured", "repaid", "defaulted"))
    with_bnpl = without + offered["bought_on_line"]
    return {
        "checkouts": checkouts, **offered, "conversion_without_bnpl": without / checkouts, "conversion_with_bnpl": with_bnpl / checkouts,
        "conversion_uplift": (with_bnpl - without) / without if without else 0.0,
        "bnpl_orders": captured, "bnpl_repaid": orders.get("repaid", 0), "bnpl_defaulted": orders.get("defaulted", 0),
        "late_rate": late / parts if parts else 0.0, "default_rate": orders.get("defaulted", 0) / captured if captured else 0.0,
        "principal_minor": sums[3], "late_fees_minor": sums[1], "merchant_fees_minor": sums[2], "written_off_minor": sums[0],
        "loss_rate": sums[0] / sums[3] if sums[3] else 0.0, "receivable_minor": receivable,
        "books_agree": owed == receivable, "ledger_ok": verify_database(db.engine).ok,
    }
