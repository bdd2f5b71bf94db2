"""The back-fill's scenarios beyond a single payment, each through its own domain service as the
API's routers call it: aggregated QR codes (a wallet scanning the store's static code or the
till's dynamic one), Huabei installments, buy-now-pay-later checkouts with their repayments and
dunning, and subscriptions collected on an Alipay agreement by the billing clock.

What the back-fill needs to know of the BNPL checkouts that never reached Juhe (a payer who left
because the basket was beyond their means and no BNPL was offered) is counted here, so that the
summary can give the conversion with and without BNPL over the same month."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from juhe.bnpl import service as bnpl
from juhe.bnpl.dunning import run_due
from juhe.bnpl.errors import BnplError
from juhe.bnpl.models import BnplInstallment, BnplLine, BnplOrder, BnplRepayment
from juhe.bnpl.repayments import RepaymentRequest, start_repayment
from juhe.channels.base import Scenario
from juhe.db.types import utcnow
from juhe.installments.models import InstallmentPlan
from juhe.installments.plans import create_plan
from juhe.installments.sales import create_installment_payment
from juhe.money import Money
from juhe.payments.context import PaymentsContext
from juhe.payments.service import NewPayment
from juhe.qrcodes.checkout import Scan, start_payment
from juhe.qrcodes.codes import create_code, landing_url
from juhe.qrcodes.models import QrCode
from juhe.qrcodes.wallets import WALLETS
from juhe.simulation.business import Sale
from juhe.simulation.units import Units
from juhe.subscriptions import service as billing
from juhe.subscriptions.clock import run_clock
from juhe.subscriptions.models import Plan

# The sandbox's 花呗分期 seller rates: the retailer runs an interest-free (免息) promotion on them.
HUABEI_OPTIONS = [{"periods": 3, "fee_rate_per_period": "0.006"}, {"periods": 6, "fee_rate_per_period": "0.0075"},
                  {"periods": 12, "fee_rate_per_period": "0.00625"}]
MEMBERSHIP = ("Lotus Mart Plus", "plus", 19_90, 7)  # product, plan code, monthly price, trial days
WALLET_OF = {"alipay": WALLETS["alipay"], "wechatpay": WALLETS["wechat"], "unionpay": WALLETS["unionpay"]}
REPAY_EARLY = timedelta(days=2)  # on-time payers repay two days before the due date
REPAY_LATE = timedelta(days=10)  # late payers ten days after it (a late fee has been charged by then)


def habit(customer: str) -> str:
    """How a payer repays, fixed per payer: most on time, some late, a few never."""
    roll = int(hashlib.sha256(customer.encode()).hexdigest()[:8], 16) % 100
    return "on_time" if roll < 85 else "late" if roll < 96 else "never"


@dataclass
class BnplTally:
    """Web-shop checkouts by whether BNPL was offered (half the payers, fixed per payer)."""

    checkouts: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    bought: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    on_line: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict:
        rate = {offered: self.bought[offered] / self.checkouts[offered] if self.checkouts[offered] else 0.0
                for offered in (True, False)}
        return {"checkouts_offered": self.checkouts[True], "checkouts_not_offered": self.checkouts[False],
                "conversion_with_bnpl": round(rate[True], 4), "conversion_without_bnpl": round(rate[False], 4),
                "conversion_uplift": round(rate[True] / rate[False] - 1, 4) if rate[False] else 0.0,
                "bought_on_line": self.on_line, "line_refusals": self.refused}


class Scenarios:
    def __init__(self, ctx: PaymentsContext, units: Units, http: httpx.AsyncClient, alipay_base: str, public_base_url: str):
        self.ctx, self.units, self.http = ctx, units, http
        self.alipay_base, self.public_base_url = alipay_base, public_base_url
        self.bnpl = BnplTally()
        self.static_codes: dict[str, QrCode] = {}
        self.plan_id: uuid.UUID | None = None

    async def setup(self) -> None:
        """The store stands' static codes, the installment plan and the membership plan (once per database)."""
        self.static_codes, self.plan_id = await self.ctx.db.run(self._setup)

    def _setup(self) -> tuple[dict[str, QrCode], uuid.UUID]:
        merchant_id = self.units.merchant_id
        with self.ctx.db.session() as session, session.begin():
            codes = {}
            for store, store_id in self.units.stores.items():
                code = session.scalar(select(QrCode).where(QrCode.store_id == store_id, QrCode.kind == "static").limit(1))
                codes[store] = code or create_code(session, merchant_id, store_id, kind="static", label="counter stand",
                                                   subject="", amount_minor=None, currency="CNY", expires_in_s=None)
            plan = session.scalar(select(InstallmentPlan).where(InstallmentPlan.merchant_id == merchant_id).limit(1))
            plan = plan or create_plan(session, self.ctx.channels, merchant_id, channel="alipay", name="花呗分期 免息",
                                       fee_bearer="merchant", options=HUABEI_OPTIONS)
            if session.scalar(select(Plan).where(Plan.merchant_id == merchant_id, Plan.code == MEMBERSHIP[1])) is None:
                product = billing.add_product(session, merchant_id, MEMBERSHIP[0])
                billing.add_plan(session, merchant_id, product.id, MEMBERSHIP[1], "CNY", "month",
                                 {"model": "fixed", "unit_amount_minor": MEMBERSHIP[2]}, trial_days=MEMBERSHIP[3])
            session.expunge_all()
            return codes, plan.id

    async def qr_code_payment(self, sale: Sale):
        """The payer scans the stand's static code and enters the amount, or the till's dynamic code for the order."""
        if sale.extra["qr"] == "dynamic":
            code = await self.ctx.db.run(self._till_code, sale)
            entered = None
        else:
            code, entered = self.static_codes[sale.store], Money(sale.amount_minor, "CNY").decimal_text()
        wallet = WALLET_OF[sale.channel]
        openid = f"o-{sale.customer}" if wallet.code == "wechat" else None  # WeChat's web authorisation gave it
        return await start_payment(self.ctx, Scan(code.token, wallet, entered, sale.key, landing_url(code, self.public_base_url),
                                                  openid=openid))

    def _till_code(self, sale: Sale) -> QrCode:
        with self.ctx.db.session() as session, session.begin():
            code = create_code(session, self.units.merchant_id, self.units.store(sale.store), kind="dynamic", label="till",
                               subject=sale.subject, amount_minor=sale.amount_minor, currency="CNY", expires_in_s=None)
            session.expunge(code)
            return code

    async def installment_payment(self, sale: Sale, key: str, request_hash: str):
        new = NewPayment(Money(sale.amount_minor, "CNY"), Scenario.QR, sale.subject, customer_id=sale.customer,
                         store_id=self.units.store(sale.store))
        payment, _ = await create_installment_payment(self.ctx, self.units.merchant_id, key, request_hash, new, self.plan_id,
                                                      sale.extra["periods"])
        return payment

    async def bnpl_checkout(self, sale: Sale) -> bool:
        """A web-shop checkout: True when the payer pays outright (the caller takes it as a web sale)."""
        offered = sale.extra["offered"]
        self.bnpl.checkouts[offered] += 1
        if sale.extra["within_means"]:
            self.bnpl.bought[offered] += 1
            return True
        if offered:
            try:
                await self.ctx.db.run(self._on_line, sale)
                self.bnpl.bought[True] += 1
                self.bnpl.on_line += 1
            except BnplError as refusal:  # declined line or over the limit: the payer leaves
                self.bnpl.refused[refusal.code] = self.bnpl.refused.get(refusal.code, 0) + 1
        return False

    def _on_line(self, sale: Sale) -> None:
        now, merchant_id = utcnow(), self.units.merchant_id
        with self.ctx.db.session() as session, session.begin():
            line = session.scalar(select(BnplLine).where(BnplLine.merchant_id == merchant_id, BnplLine.customer_id == sale.customer))
            if line is None or line.decided_at < now - timedelta(days=7):  # decided again as the history grows
                bnpl.decide_line(session, merchant_id, sale.customer, "CNY", now)
            bnpl.approve_order(session, merchant_id, f"{sale.key}-bnpl", bnpl.NewOrder(
                sale.customer, sale.amount_minor, "CNY", sale.subject, sale.extra["installments"]), now)

    async def close_day(self, payer_acts) -> None:
        """The day's end: the web shop ships what was approved, payers repay what falls due as
        their habits say, then the worker's BNPL job and the billing clock."""
        now = utcnow()
        await self.ctx.db.run(self._ship, now)
        for order_id, customer, amount_minor, key in await self.ctx.db.run(self._repayable, now):
            try:
                _, view, _ = await start_repayment(self.ctx, self.units.merchant_id, order_id, key, key,
                                                   RepaymentRequest(amount_minor, Scenario.WAP, "alipay"))
            except BnplError:
                continue
            if view["status"] == "processing":
                await payer_acts(view, customer)
        await self.ctx.db.run(run_due, self.ctx.db, utcnow())
        for _ in range(2):  # a failed collection is noticed on the next round
            await run_clock(self.ctx, utcnow())

    def _ship(self, now: datetime) -> None:
        with self.ctx.db.reader() as session:
            approved = session.scalars(select(BnplOrder.id).where(BnplOrder.merchant_id == self.units.merchant_id,
                                                                  BnplOrder.status == "approved")).all()
        for order_id in approved:
            with self.ctx.db.session() as session, session.begin():
                bnpl.capture_order(session, self.units.merchant_id, order_id, None, now)

    def _repayable(self, now: datetime) -> list[tuple[uuid.UUID, str, int, str]]:
        """Each order's earliest unpaid installment that its payer repays today, and nothing in flight."""
        with self.ctx.db.reader() as session:
            in_flight = select(BnplRepayment.order_id).where(BnplRepayment.status == "pending")
            rows = session.execute(
                select(BnplInstallment, BnplOrder.customer_id).join(BnplOrder, BnplOrder.id == BnplInstallment.order_id)
                .where(BnplOrder.merchant_id == self.units.merchant_id, BnplOrder.status == "captured",
                       BnplInstallment.paid_at.is_(None), BnplInstallment.order_id.not_in(in_flight))
                .order_by(BnplInstallment.order_id, BnplInstallment.seq)).all()
        due, seen = [], set()
        for row, customer in rows:
            if row.order_id in seen:
                continue
            seen.add(row.order_id)
            ways = {"on_time": row.due_at - REPAY_EARLY, "late": row.due_at + REPAY_LATE}
            if habit(customer) in ways and ways[habit(customer)] <= now:
                owed = row.principal_minor + row.late_fee_minor - row.paid_minor
                due.append((row.order_id, customer, owed, f"sim-repay-{row.id}"))
        return due

    async def subscribe(self, sale: Sale) -> None:
        """The payer signs an Alipay agreement and joins the membership; some revoke it in the wallet later."""
        answer = await self.http.post(f"{self.alipay_base}/sandbox/agreements")
        agreement_no = answer.raise_for_status().json()["agreement_no"]
        await self.ctx.db.run(self._subscribe, sale.customer, agreement_no)
        if sale.extra.get("revokes"):  # before the trial ends: the first collection fails and dunning runs
            await self.http.post(f"{self.alipay_base}/sandbox/agreements/{agreement_no}/unsign")

    def _subscribe(self, customer: str, agreement_no: str) -> None:
        now = utcnow()
        with self.ctx.db.session() as session, session.begin():
            mandate = billing.add_mandate(session, self.units.merchant_id, customer, "alipay", agreement_no, now)
            billing.subscribe(session, self.units.merchant_id, billing.NewSubscription(customer, MEMBERSHIP[1], mandate.id), now)
