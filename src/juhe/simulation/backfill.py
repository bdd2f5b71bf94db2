"""`juhe simulate`: back-fill days of the retailer's business through the payments core.

Over HTTP a complete payment costs the API about 30 ms of CPU (README, Benchmarks): a month of
a mid-size retailer would take a quarter of an hour. So the back-fill drives the same domain
services the API routers call — `create_payment`, `create_refund`, `handle_notification`, the
poller, reconciliation, settlement, payouts, the reserve proof — in this process, with the
clock moved to each sale's time (time-machine), against the real channel sandboxes speaking
their own protocols (signed requests, signed notifications, bills), reached without a socket
where they are HTTP (an ASGI transport) and over TCP where they are ISO 8583. Nothing here
writes a table: every row and every ledger transaction is written by the payments core.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import httpx
import structlog
import time_machine

from juhe.channels.base import Scenario
from juhe.channels.facepay import faces
from juhe.channels.pos import signing as pos_signing
from juhe.channels.pos.sandbox import STORE_TERMINALS, TEST_CARDS
from juhe.channels.registry import RunningSandbox, start_sandbox
from juhe.channels.simkit import Faults, Notifier, PayRequest
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.ledger import LedgerError
from juhe.money import Money
from juhe.payments.context import PaymentsContext
from juhe.payments.notifications import handle_notification
from juhe.payments.refunds import create_refund
from juhe.payments.service import NewPayment, PaymentError, create_payment
from juhe.satisfaction import service as satisfaction
from juhe.simulation import daily
from juhe.simulation.business import (
    BEIJING,
    SCENARIOS,
    Day,
    Sale,
    plan_day,
    rating_of,
    supplier_csv,
)
from juhe.simulation.scenarios import Scenarios
from juhe.simulation.stream import cashier_request
from juhe.simulation.units import Units, load_units
from juhe.transfers.service import TransferError, create_batch

log = structlog.get_logger()
CONCURRENCY = 16  # sales in flight at once: enough to keep the database's writer busy
FACES_ENROLLED = 24  # regular customers enrolled for face pay
FACE_NOISE = 0.2  # the enrolled face, captured again at the device
SPOOF_LIVENESS = 0.2  # a photo held up to the device: refused by the liveness check
PAYER_ACTS = ("store_qr", "web", "app", "fraud", "installment", "bnpl")  # the payer scans or confirms in the wallet after the create
HTTP_SANDBOXES = ("alipay", "wechatpay", "unionpay", "facepay", "bank", "crossborder")
FAULTED = ("alipay", "wechatpay", "unionpay", "facepay", "bank")  # the retailer's HTTP channels
CHAOS_FAULTS = {"timeout_rate": 0.05, "error_5xx_rate": 0.02, "lost_notify_rate": 0.10, "duplicate_notify_rate": 0.03,
                "reorder_notify_rate": 0.05}  # as `juhe chaos payments` injects them


@dataclass
class Tally:
    """What the back-fill did, for the progress line and the summary."""

    payments: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    refunds: int = 0
    transfer_batches: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # refusals at once by code (not enough funds …)
    days: list[daily.DayEnd] = field(default_factory=list)
    bnpl: dict = field(default_factory=dict)  # checkouts and conversion with and without BNPL offered

    def refuse(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1

    def count(self, status: str) -> None:
        self.payments += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1


class DirectNotifier(Notifier):
    """A channel's notifications handed to Juhe's handler in this process: the same signed bytes
    `POST /v1/notify/{channel}` receives, verified and applied by the same function, retried on
    the channel's schedule until acknowledged — without an HTTP server in between."""

    def __init__(self, original: Notifier, ctx: PaymentsContext):
        super().__init__(original.injector, original.retry_schedule_s, original.ack_ok)
        self.ctx = ctx

    async def _deliver(self, url, build, hold_s: float) -> None:
        channel = httpx.URL(url).path.rstrip("/").rsplit("/", 1)[-1]
        if hold_s:
            await asyncio.sleep(hold_s)
        for wait_s in [0.0, *self.retry_schedule_s]:
            await asyncio.sleep(wait_s * self.injector.faults.retry_interval_scale)
            headers, body = build()
            headers = {name.lower(): value for name, value in headers.items()}  # as the API's request gives them
            ack = await self.ctx.db.run(handle_notification, self.ctx, channel, headers, body)
            self.delivered.append((url, ack.status_code))
            if self.ack_ok(httpx.Response(ack.status_code, content=ack.body, headers={"content-type": ack.media_type})):
                return


class Backfill:
    """The channels' sandboxes, the payments context over them, and the moved clock."""

    def __init__(self, db: Database, data_dir: Path, public_base_url: str, risk=None, *, chaos: bool = False):
        notify_base_url = f"{public_base_url}/v1/notify"
        self.chaos = chaos
        self.db = db
        self.sandboxes: dict[str, RunningSandbox] = {code: start_sandbox(code, data_dir / "sandbox") for code in daily.CHANNELS}
        mounts = {f"http://127.0.0.1:{self.sandboxes[code].server.port}": httpx.ASGITransport(app=self.sandboxes[code].sandbox.app)
                  for code in HTTP_SANDBOXES}
        self.http = httpx.AsyncClient(mounts=mounts, timeout=30)
        channels = {code: running.adapter(self.http) for code, running in self.sandboxes.items()}
        self.ctx = PaymentsContext(db=db, channels=channels, notify_base_url=notify_base_url)
        if risk is not None:
            self.ctx.risk = risk
        for running in self.sandboxes.values():
            running.sandbox.notifier = DirectNotifier(running.sandbox.notifier, self.ctx)
        self.public_base_url = public_base_url
        self.units: Units | None = None
        self.scenarios: Scenarios | None = None
        self.faces: list[tuple[float, ...]] = []
        self.card_key = pos_signing.load_key(data_dir / "sandbox" / "pos" / "pos_card_key.hex", pos_signing.CARD_KEY_BYTES)

    async def run(self, merchant_id: uuid.UUID, first_day: date, days: int, seed: int, payments_per_day: int,
                  advance=lambda _n: None) -> Tally:  # fmt: skip
        """Play `days` days from `first_day`, each ending with the daily cycle; `advance(n)` per sale."""
        await self.prepare(merchant_id, seed)
        tally = Tally()
        with time_machine.travel(datetime.combine(first_day, dtime(0), BEIJING), tick=True) as clock:
            for offset in range(days):
                day = first_day + timedelta(days=offset)
                plan = plan_day(day, seed, payments_per_day, working_day=daily.is_working_day(day))
                await self._play(plan, clock, tally, advance)
                await self.scenarios.close_day(self._repayer_acts)
                clock.move_to(plan.cycle_at)
                tally.days.append(await daily.close_day(self.ctx, day, lambda s: clock.shift(timedelta(seconds=s))))
        tally.bnpl = self.scenarios.bnpl.figures()
        return tally

    async def prepare(self, merchant_id: uuid.UUID, seed: int) -> None:
        """The merchant's units, its codes and plans, and the regular customers' faces."""
        self.units = await self.db.run(load_units, self.db, merchant_id)
        alipay_base = f"http://127.0.0.1:{self.sandboxes['alipay'].server.port}"  # the sandbox's own routes, not its gateway
        self.scenarios = Scenarios(self.ctx, self.units, self.http, alipay_base, self.public_base_url)
        await self.scenarios.setup()
        await self._enrol_faces(seed)

    async def _play(self, plan: Day, clock, tally: Tally, advance) -> None:
        sales = list(plan.sales)
        for start in range(0, len(sales), CONCURRENCY):
            chunk = sales[start:start + CONCURRENCY]
            clock.move_to(chunk[0].at)
            self._apply_faults(plan, chunk[0].at)
            await asyncio.gather(*(self._sale(sale, tally) for sale in chunk))
            advance(len(chunk))
        self._apply_faults(plan, plan.cycle_at)
        clock.move_to(plan.cycle_at - timedelta(minutes=5))
        await daily.catch_up(self.ctx)  # polls what no notification told (lost ones), expires the unpaid
        for running in self.sandboxes.values():
            await running.sandbox.notifier.drain()

    def _apply_faults(self, plan: Day, now: datetime) -> None:
        """The bad hour of a channel, the bill that will disagree with our books, and under `chaos`
        every HTTP channel's faults all day long (those `juhe chaos payments` injects)."""
        for code in FAULTED:
            faults = Faults(**CHAOS_FAULTS) if self.chaos else Faults()
            fault = next((f for f in plan.faults if f.channel == code and f.start <= now < f.end), None)
            if fault:
                faults = faults.model_copy(update={"error_5xx_rate": max(faults.error_5xx_rate, fault.error_5xx_rate),
                                                   "timeout_rate": max(faults.timeout_rate, fault.timeout_rate)})
            if code == plan.bill_error_channel:
                faults = faults.model_copy(update={"bill_discrepancy_rate": 0.01})
            self.set_faults(code, faults.model_copy(update={"seed": plan.day.toordinal()}))

    def set_faults(self, code: str, faults: Faults) -> None:
        injector = self.sandboxes[code].sandbox.injector
        if injector.faults != faults:
            injector.configure(faults)

    async def _sale(self, sale: Sale, tally: Tally) -> None:
        if sale.kind == "b2b":
            return await self._supplier_batch(sale, tally)
        if sale.kind == "subscribe":
            return await self.scenarios.subscribe(sale)
        if sale.kind == "bnpl" and not await self.scenarios.bnpl_checkout(sale):
            return  # bought on the line, or the payer left
        request_hash = hashlib.sha256(sale.key.encode()).hexdigest()
        try:
            if sale.kind == "installment":
                payment = await self.scenarios.installment_payment(sale, sale.key, request_hash)
            elif sale.extra.get("qr") in ("static", "dynamic"):
                payment = await self.scenarios.qr_code_payment(sale)
            else:
                payment, _created = await create_payment(self.ctx, self.units.merchant_id, sale.key, request_hash,
                                                         await self._new_payment(sale))
        except PaymentError as refusal:
            tally.refuse(refusal.code)
            return
        if payment.status == "processing" and sale.kind in PAYER_ACTS and sale.outcome != "abandon":
            payment = await self._payer_acts(payment, sale)
        tally.count(payment.status)
        if payment.status == "succeeded" and rating_of(sale):
            await self.db.run(_rate, self.db, payment.id, rating_of(sale))
        if payment.status == "succeeded" and sale.refund_minor:
            await self._refund(payment, sale, tally)

    async def _new_payment(self, sale: Sale) -> NewPayment:
        store_id, line_id = self.units.store(sale.store), self.units.line(sale.line)
        payer = {k: v for k, v in sale.extra.items() if k in ("client_ip", "device_id")}
        if sale.kind == "card":
            till = STORE_TERMINALS[sale.number % len(STORE_TERMINALS)]
            card = TEST_CARDS["approve" if sale.outcome == "pay" else "do_not_honour"]
            payer = {"terminal_id": till, "card_block": pos_signing.seal_card(self.card_key, card.track2, till)}
        elif sale.kind == "face":
            payer = await self._face_token(sale)
        elif sale.kind in ("web", "app", "fraud", "bnpl"):
            payer.setdefault("device_id", f"dev-{sale.customer}")
        return NewPayment(Money(sale.amount_minor, "CNY"), Scenario(SCENARIOS[sale.kind]), sale.subject, customer_id=sale.customer,
                          store_id=store_id, business_line_id=line_id, preferred_channel=sale.channel, payer=payer)

    async def _payer_acts(self, payment, sale: Sale):
        """The payer scans and pays (or the wallet declines); the channel notifies Juhe."""
        await self.open_cashier(payment.next_action)
        sandbox = self.sandboxes[payment.channel].sandbox
        sandbox.pay(payment.channel_order_no, PayRequest(outcome="success" if sale.outcome == "pay" else "decline"))
        await sandbox.notifier.drain()
        return await self.db.run(_reread, self.db, payment.id)

    async def open_cashier(self, action: dict | None) -> None:
        """The payer's browser opens the channel's cashier first (stream.cashier_request says when)."""
        request = cashier_request(action)
        if request is not None:
            await self.http.request(*request[:2], data=request[2])

    async def _repayer_acts(self, view: dict, customer: str) -> None:
        """A BNPL payer pays a repayment in their wallet."""
        await self.open_cashier(view["next_action"])
        sandbox = self.sandboxes[view["channel"]].sandbox
        sandbox.pay(view["channel_order_no"], PayRequest(outcome="success"))
        await sandbox.notifier.drain()

    async def _refund(self, payment, sale: Sale, tally: Tally) -> None:
        key = f"{sale.key}-refund"
        try:
            await create_refund(self.ctx, self.units.merchant_id, payment.id, key, hashlib.sha256(key.encode()).hexdigest(),
                                sale.refund_minor, "customer returned the goods")
            tally.refunds += 1
        except PaymentError as refusal:
            tally.refuse(refusal.code)

    async def _supplier_batch(self, sale: Sale, tally: Tally) -> None:
        """The afternoon's supplier invoices as one batch to the bank, as finance uploads it."""
        raw = supplier_csv(sale)
        try:
            await create_batch(self.ctx, self.units.merchant_id, sale.key, hashlib.sha256(raw.encode()).hexdigest(), raw, "SUPP")
            tally.transfer_batches += 1
        except TransferError as refusal:
            tally.refuse(refusal.code)
        except LedgerError as refusal:  # the balance does not cover the batch: the bank is never asked
            tally.refuse(refusal.code)

    async def _enrol_faces(self, seed: int) -> None:
        rng = random.Random(seed)
        base = self.sandboxes["facepay"].sandbox.adapter_config().base_url.rstrip("/")
        for number in range(FACES_ENROLLED):
            template = faces.synthetic_template(rng)
            answer = await self.http.post(f"{base}/sandbox/enroll", json={
                "user_id": f"face-customer-{number}", "template": list(template), "daily_limit_minor": 50_000_00})
            answer.raise_for_status()
            self.faces.append(template)

    async def _face_token(self, sale: Sale) -> dict:
        from juhe.channels.facepay.sandbox import DEVICE_ID

        rng = random.Random(sale.key)
        probe = faces.noisy_capture(self.faces[sale.number % len(self.faces)], FACE_NOISE, rng)
        base = self.sandboxes["facepay"].sandbox.adapter_config().base_url.rstrip("/")
        liveness = 0.98 if sale.outcome == "pay" else SPOOF_LIVENESS
        answer = await self.http.post(f"{base}/sandbox/face/tokens", json={"device_id": DEVICE_ID, "probe": list(probe),
                                                                          "liveness": liveness})
        answer.raise_for_status()
        return {"device_id": DEVICE_ID, "face_token": answer.json()["face_token"]}

    async def close(self) -> None:
        await self.http.aclose()
        # A stopped sandbox's server cancels its lifespan, which uvicorn reports as an error: it is none.
        uvicorn_log = logging.getLogger("uvicorn.error")
        level = uvicorn_log.level
        uvicorn_log.setLevel(logging.CRITICAL)
        try:
            for running in self.sandboxes.values():
                running.stop()
        finally:
            uvicorn_log.setLevel(level)


def _rate(db: Database, payment_id: uuid.UUID, score: int) -> None:
    """What the payer's receipt page does with their stars."""
    with db.session() as session, session.begin():
        satisfaction.rate(session, payment_id, score, "", utcnow())


def _reread(db: Database, payment_id: uuid.UUID):
    from juhe.payments.models import Payment

    with db.reader() as session:
        return session.get(Payment, payment_id)

