"""What the evaluated rules look for, as aggregate queries over recent activity:

- bursts of large amounts from one account: outgoing batch-transfer items per merchant
  (its payable) and per creditor account, and payments per payer;
- a channel's success rate falling below a floor.

A burst is reported only with events newer than the last alert for the same rule and
subject (its watermark), so a burst that is still inside the window when the next worker
round looks again is not reported a second time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from juhe.monitor.figures import CLOSED, PAYMENTS, Window, total_where, window_ending
from juhe.monitor.models import MonitorAlert
from juhe.monitor.rules import BPS, Rule
from juhe.transfers.models import TransferBatch, TransferItem

ITEMS = TransferItem.__table__
BATCHES = TransferBatch.__table__
ALERTS = MonitorAlert.__table__
CANDIDATES_MAX = 100  # subjects reported per rule and round; the rest wait for the next round
SOURCES = ("merchant", "creditor", "payer")  # whose account the amounts leave or go to


@dataclass(frozen=True, slots=True)
class Burst:
    merchant_id: uuid.UUID
    source: str
    party: str
    count: int
    amount_minor: int
    first_at: datetime
    last_at: datetime

    @property
    def subject(self) -> str:
        return f"{self.source}:{self.party}"


@dataclass(frozen=True, slots=True)
class RateDrop:
    channel: str
    succeeded: int
    failed: int
    closed: int


def is_rate_drop(succeeded: int, failed: int, closed: int, floor_bps: int, min_sample: int) -> bool:
    """Below the floor, on enough finished payments; compared in integers, exactly."""
    finished = succeeded + failed + closed
    return finished >= min_sample and succeeded * BPS < floor_bps * finished


def _events(source: str, params: dict, window: Window, merchant_id: uuid.UUID | None, party: str | None = None):
    """One row per large amount in the window: merchant_id, party, amount_minor, at."""
    if source == "payer":
        p = PAYMENTS.c
        query = select(p.merchant_id, p.customer_id.label("party"), p.amount_minor, p.created_at.label("at")).where(
            p.customer_id.is_not(None), p.status.not_in(("failed", "canceled")), p.currency == params["currency"],
            p.amount_minor >= params["min_amount_minor"], p.created_at > window.start, p.created_at <= window.end,
        )
        scoped = (p.merchant_id, p.customer_id)
    else:
        i, b = ITEMS.c, BATCHES.c
        query = (
            select(i.merchant_id, (i.merchant_id if source == "merchant" else i.creditor_account_index).label("party"),
                   i.amount_minor, b.created_at.label("at"))
            .select_from(ITEMS.join(BATCHES, b.id == i.batch_id))
            .where(i.status != "rejected", i.currency == params["currency"], i.amount_minor >= params["min_amount_minor"],
                   b.created_at > window.start, b.created_at <= window.end)
        )
        # A creditor is its account's blind index (juhe.pii): the account itself is sealed, the index groups it.
        scoped = (i.merchant_id, i.creditor_account_index if source == "creditor" else None)
    if merchant_id is not None:
        query = query.where(scoped[0] == merchant_id)
    if party is not None and scoped[1] is not None:
        query = query.where(scoped[1] == party)
    return query


def _aggregate(events, min_count: int):
    ev = events.subquery()
    return (
        select(ev.c.merchant_id, ev.c.party, func.count(), func.sum(ev.c.amount_minor), func.min(ev.c.at), func.max(ev.c.at))
        .group_by(ev.c.merchant_id, ev.c.party)
        .having(func.count() >= min_count)
    )


def large_transfer_bursts(conn: Connection, rule: Rule, now: datetime) -> list[Burst]:
    params = rule.params
    window = window_ending(now, params["window_minutes"])
    found = []
    for source in SOURCES:
        query = _aggregate(_events(source, params, window, rule.merchant_id), params["min_count"]).limit(CANDIDATES_MAX)
        for merchant, party, count, amount, first_at, last_at in conn.execute(query).all():
            burst = Burst(merchant, source, str(party), count, int(amount), first_at, last_at)
            fresh = _after_watermark(conn, rule, burst, window)
            if fresh is not None:
                found.append(fresh)
    return found


def _after_watermark(conn: Connection, rule: Rule, burst: Burst, window: Window) -> Burst | None:
    """The burst counted again from the last alert on this subject, or None if too little is new."""
    a = ALERTS.c
    watermark = conn.scalar(select(func.max(a.last_event_at)).where(
        a.rule_id == rule.id, a.merchant_id == burst.merchant_id, a.subject == burst.subject,
    ))
    if watermark is None or watermark < burst.first_at:
        return burst
    since = Window(max(watermark, window.start), window.end)
    events = _events(burst.source, rule.params, since, burst.merchant_id, burst.party)
    row = conn.execute(_aggregate(events, rule.params["min_count"])).first()
    if row is None:
        return None
    _merchant, _party, count, amount, first_at, last_at = row
    return Burst(burst.merchant_id, burst.source, burst.party, count, int(amount), first_at, last_at)


def success_rate_drops(conn: Connection, rule: Rule, now: datetime) -> list[RateDrop]:
    params = rule.params
    window = window_ending(now, params["window_minutes"])
    p = PAYMENTS.c
    query = (
        select(p.channel, total_where(p.status == "succeeded"), total_where(p.status == "failed"), total_where(CLOSED))
        .where(p.channel.is_not(None), p.created_at > window.start, p.created_at <= window.end)
        .group_by(p.channel)
        .limit(CANDIDATES_MAX)
    )
    if "channel" in params:
        query = query.where(p.channel == params["channel"])
    if rule.merchant_id is not None:
        query = query.where(p.merchant_id == rule.merchant_id)
    drops = [RateDrop(channel, int(s), int(f), int(c)) for channel, s, f, c in conn.execute(query)]
    return [d for d in drops if is_rate_drop(d.succeeded, d.failed, d.closed, params["floor_bps"], params["min_sample"])]
