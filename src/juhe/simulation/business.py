"""A day of a mid-size retailer, as plain data: who pays what, when, how and where.

Pure functions of a date and a seed, shared by `juhe simulate` (which back-fills days through
the payments core with a moved clock) and the demo's live stream (which sends the same sales
through the public API as they come). Nothing here touches a database or a channel.

The retailer is the demo's Lotus Mart: two stores (card terminal, face-pay device, QR stand at
each till), a web shop and an app on two business lines, suppliers paid by bank transfer.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from juhe.money import Money

BEIJING = ZoneInfo("Asia/Shanghai")
OPENING, CLOSING = time(8, 0), time(22, 0)  # shop hours
DAY_END = time(23, 55)  # the daily cycle: every sale of the day is in, midnight not yet come
STORES = ("sh-01", "bj-01")
LINES = ("grocery", "electronics")
DEFAULT_PAYMENTS_PER_DAY = 670  # about 20,000 a month: a mid-size retailer

# kind → (share of the day's payments, median amount in fen, spread of log-amount)
MIX = {
    "store_qr": (0.36, 45_00, 0.8),
    "card": (0.20, 120_00, 0.9),
    "face": (0.12, 38_00, 0.6),
    "web": (0.10, 260_00, 1.0),
    "app": (0.13, 150_00, 0.9),
    "installment": (0.02, 3_000_00, 0.5),  # electronics on 花呗分期 at the store's till
    "bnpl": (0.05, 400_00, 0.8),  # a web-shop checkout where BNPL may be offered
    "subscribe": (0.01, 19_90, 0.0),  # a customer joins the membership (trial, then monthly on an Alipay agreement)
    "fraud": (0.01, 2_600_00, 0.5),  # stolen-card bursts and odd-hour cash-outs: for the risk engine
}
SCENARIOS = {"store_qr": "qr", "card": "pos", "face": "face", "web": "wap", "app": "app", "fraud": "wap",
             "installment": "qr", "bnpl": "wap"}  # as the API names them
QR_WAYS = (("order", 0.4), ("static", 0.35), ("dynamic", 0.25))  # a code per payment, the stand's 聚合码, the till's
INSTALLMENT_PERIODS = (3, 6, 12)
BNPL_WITHIN_MEANS = 0.75  # of web-shop baskets, what the payer could pay outright
BNPL_INSTALLMENTS = (1, 3, 3, 4, 6)
RATING_SHARE = 0.08  # of the payers whose payment succeeded, those who rate it
# 1 to 5 stars; card payers at the till are a little less pleased (PIN pads, slips) than wallet payers
RATING_WEIGHTS = {False: (2, 2, 5, 27, 64), True: (3, 3, 8, 30, 56)}
REVOKE_SHARE = 0.12  # members who revoke the agreement in their wallet before the trial ends
CUSTOMERS, REGULARS, REGULAR_SHARE = 4000, 300, 0.3  # a third of the sales are regulars' (several a week)
REGULARS_MIN = 20
QR_CHANNELS = (("alipay", 0.5), ("wechatpay", 0.4), ("unionpay", 0.1))
REFUND_SHARE = 0.03  # of the day's sales, refunded in part or whole later that day
DECLINE_SHARE = 0.02  # the payer's wallet or bank says no
ABANDON_SHARE = 0.02  # a QR shown and never scanned: it expires
SUPPLIERS = (  # paid by one bank transfer batch (pain.001) on each working day
    {"creditor_name": "Shanghai Tea Co", "creditor_account": "6222020200112233445", "creditor_bank": "102290024433"},
    {"creditor_name": "Hangzhou Packaging Ltd", "creditor_account": "6222020200998877665", "creditor_bank": "102290024433"},
)
FAULT_EVERY_DAYS = 5  # one channel has a bad hour every few days
BILL_ERROR_EVERY_DAYS = 7  # one channel's bill disagrees with our books now and then
# Lunch and evening peaks: the relative number of customers in each shop hour 08–21.
HOURLY_TRAFFIC = (3, 4, 5, 6, 9, 8, 5, 4, 4, 5, 8, 10, 8, 5)


@dataclass(frozen=True, slots=True)
class Sale:
    """One thing a customer (or the retailer's finance team) does."""

    at: datetime  # UTC
    kind: str  # store_qr, card, face, web, app, fraud, b2b
    amount_minor: int
    number: int  # of the day: makes idempotency keys and subjects unique
    channel: str | None = None  # the channel asked for (QR), None: the scenario decides
    store: str | None = None
    line: str | None = None
    customer: str | None = None
    outcome: str = "pay"  # pay, decline, abandon
    refund_minor: int = 0  # refunded later the same day (0: kept)
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"sim-{self.at:%Y%m%d}-{self.number:05d}"

    @property
    def subject(self) -> str:
        where = self.store or self.line or "web shop"
        return {"b2b": f"Supplier invoices {self.key}", "fraud": "Electronics order"}.get(self.kind, f"{self.kind} sale at {where}")


@dataclass(frozen=True, slots=True)
class Fault:
    """A bad hour at one channel: errors and timeouts, so routing fails over and monitoring sees it."""

    channel: str
    start: datetime
    end: datetime
    error_5xx_rate: float = 0.3
    timeout_rate: float = 0.05


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    sales: tuple[Sale, ...]
    faults: tuple[Fault, ...]
    bill_error_channel: str | None  # a channel whose bill of this day carries discrepancies

    @property
    def cycle_at(self) -> datetime:
        return _at(self.day, DAY_END)


def plan_day(day: date, seed: int, payments_per_day: int = DEFAULT_PAYMENTS_PER_DAY, *, working_day: bool = True) -> Day:
    """The day's sales in time order; the same date and seed always give the same day."""
    rng = random.Random(f"{seed}:{day.isoformat()}")
    count = round(payments_per_day * (1.25 if day.weekday() >= 5 else 1.0))  # weekends are busier
    # As many regulars as keep their habit (several sales a week each) at this size of business.
    regulars = max(REGULARS_MIN, round(REGULARS * payments_per_day / DEFAULT_PAYMENTS_PER_DAY))
    sales = [_sale(day, rng, number, regulars) for number in range(count)]
    if working_day:
        sales.append(_supplier_batch(day, rng, count, payments_per_day / DEFAULT_PAYMENTS_PER_DAY))
    sales.sort(key=lambda s: s.at)
    ordinal = day.toordinal()
    faults = (_fault(day, rng),) if ordinal % FAULT_EVERY_DAYS == 0 else ()
    bill_error = rng.choice(("alipay", "wechatpay")) if ordinal % BILL_ERROR_EVERY_DAYS == 0 else None
    return Day(day, tuple(sales), faults, bill_error)


def _sale(day: date, rng: random.Random, number: int, regulars: int = REGULARS) -> Sale:
    kind = rng.choices(list(MIX), weights=[share for share, _, _ in MIX.values()])[0]
    _, median_minor, spread = MIX[kind]
    amount_minor = max(100, round(median_minor * math.exp(rng.gauss(0, spread)) / 10) * 10)  # prices end in 0
    at = _shop_time(day, rng)
    customer = f"cust-{rng.randrange(regulars if rng.random() < REGULAR_SHARE else CUSTOMERS):04d}"
    roll = rng.random()
    outcome = "decline" if roll < DECLINE_SHARE else "abandon" if roll < DECLINE_SHARE + ABANDON_SHARE else "pay"
    refund_minor = 0
    if outcome == "pay" and rng.random() < REFUND_SHARE:
        refund_minor = amount_minor if rng.random() < 0.6 else max(1, amount_minor // rng.choice((2, 3, 4)))
    if kind == "store_qr":
        channel = rng.choices([c for c, _ in QR_CHANNELS], weights=[w for _, w in QR_CHANNELS])[0]
        way = rng.choices([w for w, _ in QR_WAYS], weights=[s for _, s in QR_WAYS])[0]
        return Sale(at, kind, amount_minor, number, channel, store=rng.choice(STORES), customer=customer, outcome=outcome,
                    refund_minor=refund_minor, extra={"qr": way})
    if kind == "installment":
        return Sale(at, kind, amount_minor, number, "alipay", store=rng.choice(STORES), customer=customer,
                    outcome=outcome, extra={"periods": rng.choice(INSTALLMENT_PERIODS)})
    if kind == "subscribe":
        return Sale(at, kind, MIX[kind][1], number, "alipay", customer=customer, extra={"revokes": rng.random() < REVOKE_SHARE})
    if kind == "bnpl":  # BNPL is offered to half the payers (fixed per payer): the month measures what it adds
        return Sale(at, kind, amount_minor, number, "wechatpay", customer=customer, outcome="pay", extra={
            "offered": int(customer[-4:]) % 2 == 0, "within_means": rng.random() < BNPL_WITHIN_MEANS,
            "installments": rng.choice(BNPL_INSTALLMENTS)})
    if kind in ("card", "face"):  # no payer step after the till: the card or face either pays or is declined
        return Sale(at, kind, amount_minor, number, store=rng.choice(STORES), customer=customer,
                    outcome="pay" if outcome == "abandon" else outcome, refund_minor=refund_minor)
    if kind == "fraud":
        return _fraud(day, rng, number, amount_minor)
    line = rng.choice(LINES) if kind == "app" else None  # the web shop is the merchant's own; the app sells per line
    return Sale(at, kind, amount_minor, number, "wechatpay", line=line, customer=customer, outcome=outcome,
                refund_minor=refund_minor, extra={"client_ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"})


def _fraud(day: date, rng: random.Random, number: int, amount_minor: int) -> Sale:
    """A web-shop order from a stranger's device late at night for electronics: what stolen cards buy."""
    # Late at night, yet before midnight: the channels' bills and our books cut the day at the same hour.
    at = _at(day, time(rng.randrange(22, 24), rng.randrange(50), rng.randrange(60)))
    return Sale(at, "fraud", amount_minor, number, "wechatpay", line="electronics", customer=f"new-{rng.randrange(10**6):06d}",
                extra={"client_ip": f"185.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                       "device_id": f"dev-{rng.randrange(10**9):09d}"})


def _supplier_batch(day: date, rng: random.Random, number: int, scale: float) -> Sale:
    """Finance pays the day's supplier invoices in the afternoon, from what the shop took in."""
    at = _at(day, time(rng.randrange(14, 17), rng.randrange(60)))
    amounts = [max(100, round(rng.randrange(300, 1500) * 100 * scale)) for _ in SUPPLIERS]  # in step with the takings
    lines = [supplier | {"amount_minor": amount, "invoice": f"INV-{day:%m%d}-{i + 1}"}
             for i, (supplier, amount) in enumerate(zip(SUPPLIERS, amounts))]
    return Sale(at, "b2b", sum(amounts), number, "bank", extra={"lines": lines})


def rating_of(sale: Sale) -> int:
    """The 1–5 rating a payer gives on the receipt page after paying, or 0 for most who never rate."""
    rng = random.Random(f"rating:{sale.key}")
    if rng.random() >= RATING_SHARE:
        return 0
    return rng.choices(range(1, 6), weights=RATING_WEIGHTS[sale.kind == "card"])[0]


def supplier_csv(sale: Sale) -> str:
    """A supplier batch as finance uploads it (POST /v1/transfers/batches)."""
    rows = [f"{line['invoice']},{Money(line['amount_minor'], 'CNY').decimal_text()},CNY,{line['creditor_name']},"
            f"{line['creditor_account']},{line['creditor_bank']},{line['invoice']} goods" for line in sale.extra["lines"]]
    return "end_to_end_id,amount,currency,creditor_name,creditor_account,creditor_bank,remittance_info\n" + "\n".join(rows) + "\n"


def _fault(day: date, rng: random.Random) -> Fault:
    start = _at(day, time(rng.randrange(10, 19), 0))
    return Fault(rng.choice(("alipay", "wechatpay")), start, start + timedelta(hours=1))


def _shop_time(day: date, rng: random.Random) -> datetime:
    hour = rng.choices(range(OPENING.hour, CLOSING.hour), weights=HOURLY_TRAFFIC)[0]
    return _at(day, time(hour, rng.randrange(60), rng.randrange(60), rng.randrange(10**6)))


def _at(day: date, local: time) -> datetime:
    return datetime.combine(day, local, BEIJING).astimezone(timezone.utc)
