"""FX cost of a day's cross-border flows, in basis points paid against the mid rate.

Before: each payment converts on its own, when it happens, at the cross-border channel's desk
(what Juhe does today). After: the day's flows per currency pair are netted first — a payout in
US dollars is paid from the dollars collected that day, so only the difference is converted —
and the net converts once, inside the onshore session, at the desk that quotes it cheapest. In
between, `best_desk` is each payment converted on its own at the cheapest desk at its own time,
so that the report shows what comparing quotes alone gives; `timed` is each payment dealt at the
channel's desk in the session (timing alone) and `netted` the net dealt so (timing and netting,
without comparing desks). Every cost is the mid value of what
was converted less what the dealt rate gave, in CNY minor units; bps are over the gross flows."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.money import exponent
from juhe.payments.models import Payment
from juhe.settlement.calendar import DEFAULT_TIMEZONE, zone_of
from juhe.treasury.fx_desks import DEFAULT_DESK, SESSION, DeskQuote, ask_all

HOME = "CNY"
BUY, SELL = "buy", "sell"  # Juhe buys the foreign currency (a payout abroad) or sells it (a collection)
FLOWS_MAX = 100_000  # per report
BPS = 10_000


@dataclass(frozen=True, slots=True)
class Flow:
    at: datetime
    currency: str  # the foreign side; the other is CNY
    side: str  # BUY or SELL
    amount_minor: int  # in `currency`


def _request(currency: str, side: str, amount_minor: int, at: datetime) -> dict:
    sell, buy = (HOME, currency) if side == BUY else (currency, HOME)
    return {"sell_currency": sell, "buy_currency": buy, "amount_minor": amount_minor, "amount_currency": currency, "at": at}


def cost_minor(currency: str, side: str, amount_minor: int, quote: DeskQuote) -> Fraction:
    """The mid value in CNY minor units of what the spread kept: notional × (1 − rate/mid)."""
    return notional_minor(currency, side, amount_minor, quote) * (1 - Fraction(quote.rate) / Fraction(quote.mid))


def notional_minor(currency: str, side: str, amount_minor: int, quote: DeskQuote) -> Fraction:
    # mid is buy units per sell unit: CNY per unit when selling the currency, units per CNY when buying it
    major = Fraction(amount_minor, 10 ** exponent(currency))
    cny = major * Fraction(quote.mid) if side == SELL else major / Fraction(quote.mid)
    return cny * 10 ** exponent(HOME)


def _cheapest(currency: str, side: str, amount_minor: int, quotes: list[DeskQuote]) -> tuple[DeskQuote, Fraction]:
    return min(((q, cost_minor(currency, side, amount_minor, q)) for q in quotes), key=lambda qc: (qc[1], qc[0].desk))


def session_times(day: date) -> list[datetime]:
    """The hours of the day's onshore session a net conversion may be dealt at."""
    zone, hours = zone_of(DEFAULT_TIMEZONE), []
    at = datetime.combine(day, SESSION[0], zone) + timedelta(minutes=30)
    while at.time() < SESSION[1]:
        hours.append(at)
        at += timedelta(hours=1)
    return hours


def report(flows: list[Flow], desks_url: str) -> dict:
    if len(flows) > FLOWS_MAX:
        raise ValueError(f"at most {FLOWS_MAX} flows a report")
    each = ask_all(desks_url, [_request(f.currency, f.side, f.amount_minor, f.at) for f in flows])
    timed = ask_all(desks_url, [_request(f.currency, f.side, f.amount_minor, session_times(_day(f))[0]) for f in flows])
    groups: dict[tuple[date, str], list[tuple[Flow, list[DeskQuote], list[DeskQuote]]]] = defaultdict(list)
    for flow, quotes, in_session in zip(flows, each, timed, strict=True):
        groups[(_day(flow), flow.currency)].append((flow, quotes, in_session))
    pairs = [_pair(day, currency, rows, desks_url) for (day, currency), rows in sorted(groups.items())]
    gross = sum(p["gross_minor"] for p in pairs)
    totals = {k: sum(p[f"{k}_cost_minor"] for p in pairs) for k in ("before", "best_desk", "timed", "netted", "after")}
    return {"object": "fx_cost_report", "flows": len(flows), "gross_minor": gross, "currency": HOME,
            **{f"{k}_cost_minor": v for k, v in totals.items()},
            **{f"{k}_bps": _bps(v, gross) for k, v in totals.items()},
            "reduction": round(1 - totals["after"] / totals["before"], 4) if totals["before"] else 0.0, "pairs": pairs}


def _day(flow: Flow) -> date:
    return flow.at.astimezone(zone_of(DEFAULT_TIMEZONE)).date()


def _bps(cost, gross) -> float:
    return round(float(Fraction(cost) * BPS / Fraction(gross)), 2) if gross else 0.0


def _pair(day: date, currency: str, rows: list[tuple[Flow, list[DeskQuote], list[DeskQuote]]], desks_url: str) -> dict:
    before = best = timed = gross = Fraction(0)
    for flow, quotes, in_session in rows:
        default = next(q for q in quotes if q.desk == DEFAULT_DESK)
        gross += notional_minor(currency, flow.side, flow.amount_minor, default)
        before += cost_minor(currency, flow.side, flow.amount_minor, default)
        best += _cheapest(currency, flow.side, flow.amount_minor, quotes)[1]
        timed += cost_minor(currency, flow.side, flow.amount_minor, next(q for q in in_session if q.desk == DEFAULT_DESK))
    bought = sum(f.amount_minor for f, _, _ in rows if f.side == BUY)
    sold = sum(f.amount_minor for f, _, _ in rows if f.side == SELL)
    net, side = abs(bought - sold), BUY if bought >= sold else SELL
    after, netted, dealt = Fraction(0), Fraction(0), None
    if net:
        times = session_times(day)
        answers = ask_all(desks_url, [_request(currency, side, net, at) for at in times])
        netted = cost_minor(currency, side, net, next(q for q in answers[0] if q.desk == DEFAULT_DESK))
        (quote, after), at = min(((_cheapest(currency, side, net, qs), at) for qs, at in zip(answers, times) if qs),
                                 key=lambda x: (x[0][1], x[1]))
        dealt = {"desk": quote.desk, "at": at.isoformat(), "spread_bps": quote.spread_bps, "rate": str(quote.rate)}
    return {"pair": f"{currency}/{HOME}", "day": day.isoformat(), "flows": len(rows), "bought_minor": bought,
            "sold_minor": sold, "net_minor": net, "net_side": side if net else None, "gross_minor": round(gross),
            "before_cost_minor": round(before), "best_desk_cost_minor": round(best), "timed_cost_minor": round(timed),
            "netted_cost_minor": round(netted),
            "after_cost_minor": round(after),
            "before_bps": _bps(before, gross), "after_bps": _bps(after, gross), "dealt": dealt}


def flows_of_day(session: Session, day: date, merchant_id: uuid.UUID | None = None) -> list[Flow]:
    """The day's cross-border payments that converted (paid from CNY at an FX quote), by Beijing date."""
    zone = zone_of(DEFAULT_TIMEZONE)
    start = datetime.combine(day, time(0), zone)
    query = select(Payment).where(Payment.scenario == "crossborder", Payment.status == "succeeded",
                                  Payment.paid_at >= start, Payment.paid_at < start + timedelta(days=1))
    if merchant_id is not None:
        query = query.where(Payment.merchant_id == merchant_id)
    return [Flow(p.paid_at, p.currency, BUY, p.amount_minor)
            for p in session.scalars(query.order_by(Payment.paid_at).limit(FLOWS_MAX)) if (p.meta or {}).get("fx")]


SAMPLE = {  # currency: (orders collected a day, their range in major units, supplier payouts a day, their range)
    "USD": (300, (20, 400), 2, (2_000, 8_000)),
    "EUR": (120, (20, 300), 1, (1_000, 4_000)),
    "HKD": (80, (100, 3_000), 0, (0, 0)),
}
BUYERS_HOURS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 19, 20, 21, 22, 23, 10, 14)  # Beijing time: Europe's and America's day


def sample_day(day: date, seed: int = 1) -> list[Flow]:
    """An exporting shop's day: orders from abroad collected in their currency and sold for CNY, mostly
    while China sleeps, and a few payouts to foreign suppliers bought during the session."""
    rng, zone, flows = random.Random(seed), zone_of(DEFAULT_TIMEZONE), []
    midnight = datetime.combine(day, time(0), zone)
    for currency, (orders, (lo, hi), payouts, (plo, phi)) in SAMPLE.items():
        scale = 10 ** exponent(currency)
        for _ in range(orders):
            at = midnight + timedelta(hours=rng.choice(BUYERS_HOURS), minutes=rng.randrange(60))
            flows.append(Flow(at, currency, SELL, rng.randrange(lo, hi) * scale))
        for _ in range(payouts):
            at = midnight + timedelta(hours=rng.randrange(10, 16), minutes=rng.randrange(60))
            flows.append(Flow(at, currency, BUY, rng.randrange(plo, phi) * scale))
    return sorted(flows, key=lambda f: f.at)
