"""The worker's subscription job, on the clock it is given (tests move it): periods that ended
roll into the next (usage in arrears, the fee in advance), trials end, cancels and pauses at
period end take effect; then failed collections go to dunning and due invoices are collected."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.payments.context import PaymentsContext
from juhe.subscriptions import billing, collection
from juhe.subscriptions.models import Plan, Subscription
from juhe.subscriptions.service import start_period
from juhe.subscriptions.views import subscription_view
from juhe.webhooks.outbox import enqueue_event
from juhe.safety.crashpoints import hit as crash_point

SUBSCRIPTIONS_PER_RUN = 500
PERIODS_PER_ROLL = 24  # a worker down for longer catches up over several runs


async def run_clock(ctx: PaymentsContext, now: datetime) -> dict[str, int]:
    counts = {"rolled": 0, "failed": 0, "collected": 0}
    db = ctx.db
    for sub_id in await db.run(_read, db, _due_subscriptions, now):
        counts["rolled"] += await db.run(_in_transaction, db, roll, sub_id, now)
        crash_point("subscription.cycle")
    for invoice_id in await db.run(_read, db, collection.failed_collections):
        counts["failed"] += await db.run(_in_transaction, db, collection.collection_failed, invoice_id, now)
    for invoice_id in await db.run(_read, db, collection.due_for_collection, now):
        counts["collected"] += await collection.collect(ctx, invoice_id, now) == "attempted"
    return counts


def _due_subscriptions(session: Session, now: datetime) -> list[uuid.UUID]:
    return list(session.scalars(select(Subscription.id).where(
        Subscription.status.in_(("trialing", "active", "past_due")), Subscription.review_at <= now)
        .order_by(Subscription.review_at).limit(SUBSCRIPTIONS_PER_RUN)))


def _read(db, fn, *args):
    # On the database's threads: the worker's loop never waits on a query.
    with db.reader() as session:
        return fn(session, *args)


def _in_transaction(db, fn, *args):
    with db.session() as session, session.begin():
        return int(fn(session, *args))


def roll(session: Session, sub_id: uuid.UUID, now: datetime) -> int:
    sub = session.get(Subscription, sub_id, with_for_update=True)
    plan = session.get(Plan, sub.plan_id)
    periods = 0
    while sub.status in ("trialing", "active", "past_due") and sub.period_end <= now and periods < PERIODS_PER_ROLL:
        end = sub.period_end
        if sub.status == "trialing":
            start_period(session, sub, plan, end, now)
        else:
            usage = billing.usage_line(session, sub, plan, sub.period_start, end)
            if sub.cancel_at_period_end or sub.pause_at_period_end:
                _stop(session, sub, usage, end, now)
            else:
                start_period(session, sub, plan, end, now, usage)
        periods += 1
    return periods


def _stop(session: Session, sub: Subscription, usage: dict | None, end: datetime, now: datetime) -> None:
    """The period ended with a cancel or pause: its usage is billed, nothing in advance."""
    if usage is not None and usage["amount_minor"] > 0:
        billing.issue(session, sub, "final", [usage], sub.period_start, end, now)
    sub.review_at = None
    if sub.cancel_at_period_end:
        sub.status, sub.canceled_at, sub.cancel_reason = "canceled", end, "requested"
        enqueue_event(session, sub.merchant_id, "subscription.canceled", subscription_view(sub))
    else:
        sub.status, sub.pause_at_period_end = "paused", False
        enqueue_event(session, sub.merchant_id, "subscription.paused", subscription_view(sub))
