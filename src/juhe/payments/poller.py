"""Polling with backoff for payments and refunds whose notification has not come, and closing
payments at expiry. The worker calls `poll_due` in a loop; every call is bounded."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from sqlalchemy import or_, select

from juhe.channels.base import ChannelError
from juhe.db.types import utcnow
from juhe.payments import outbound, states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment, PaymentAttempt, Refund
from juhe.payments.outcomes import apply_payment_status, apply_refund_status, close_attempt, emit
from juhe.payments.refunds import schedule_poll, submit_refund

log = structlog.get_logger()
POLL_BATCH_MAX = 200
POLL_CONCURRENCY = 32
# A create still unfinished after this long was interrupted (a crash between channel calls):
# every channel call is bounded by seconds, so no live request is that slow.


async def poll_due(ctx: PaymentsContext, now: datetime | None = None) -> int:
    now = now or utcnow()
    payment_ids, interrupted, refund_ids, loose_attempts = await ctx.db.run(_due, ctx, now)
    gate = asyncio.Semaphore(POLL_CONCURRENCY)

    async def bounded(job):
        # One failing job is logged and retried next round; it must not stop the others.
        async with gate:
            try:
                await job
            except Exception:
                log.exception("poll job failed")

    await asyncio.gather(*(bounded(poll_payment(ctx, pid, now)) for pid in payment_ids),
                         *(bounded(poll_refund(ctx, rid)) for rid in refund_ids),
                         *(bounded(close_loose(ctx, attempt)) for attempt in loose_attempts),
                         *(bounded(fail_interrupted(ctx, pid)) for pid in interrupted))
    return len(payment_ids) + len(refund_ids) + len(loose_attempts) + len(interrupted)


def _due(ctx: PaymentsContext, now: datetime):
    with ctx.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
        payment_ids = conn.scalars(
            select(Payment.id).where(Payment.status == states.PROCESSING, Payment.next_poll_at <= now)
            .order_by(Payment.next_poll_at).limit(POLL_BATCH_MAX)
        ).all()
        interrupted = conn.scalars(
            select(Payment.id).where(Payment.status == states.REQUIRES_PAYMENT_METHOD,
                                     Payment.created_at <= now - ctx.interrupted_after).limit(POLL_BATCH_MAX)
        ).all()
        refund_ids = conn.scalars(
            select(Refund.id).where(Refund.status == "pending", or_(Refund.next_poll_at <= now, Refund.next_poll_at.is_(None)))
            .order_by(Refund.next_poll_at).limit(POLL_BATCH_MAX)
        ).all()
    with ctx.db.reader() as session:
        loose_attempts = session.scalars(
            select(PaymentAttempt).where(PaymentAttempt.status == "abandoned").limit(POLL_BATCH_MAX)
        ).all()
    return payment_ids, interrupted, refund_ids, loose_attempts


async def close_loose(ctx: PaymentsContext, attempt: PaymentAttempt) -> bool:
    """Keep trying to close an order whose creation timed out and whose close failed."""
    if not await close_attempt(ctx, attempt):
        return False
    await ctx.db.run(_mark_closed, ctx, attempt.id)
    return True


def _mark_closed(ctx: PaymentsContext, attempt_id) -> None:
    with ctx.db.session() as session, session.begin():
        row = session.get(PaymentAttempt, attempt_id)
        if row.status == "abandoned":
            row.status = "closed"


async def fail_interrupted(ctx: PaymentsContext, payment_id) -> str:
    """A payment whose create was cut short: close every order it may have, then fail it."""
    attempts = await ctx.db.run(_open_attempts, ctx, payment_id)
    for attempt in attempts:
        if not await close_attempt(ctx, attempt):
            return "close_pending"
    return await ctx.db.run(_fail_interrupted, ctx, payment_id, attempts)


def _open_attempts(ctx: PaymentsContext, payment_id) -> list[PaymentAttempt]:
    with ctx.db.reader() as session:
        return list(session.scalars(select(PaymentAttempt).where(
            PaymentAttempt.payment_id == payment_id, PaymentAttempt.status.in_(("creating", "pending")))).all())


def _fail_interrupted(ctx: PaymentsContext, payment_id, attempts: list[PaymentAttempt]) -> str:
    with ctx.db.session() as session, session.begin():
        payment = session.get(Payment, payment_id)
        if payment.status != states.REQUIRES_PAYMENT_METHOD:
            return "stale"
        for attempt in attempts:
            session.get(PaymentAttempt, attempt.id).status = "closed"
        payment.failure_code = "interrupted"
        states.move_payment(session, payment, states.FAILED, "interrupted")
        outbound.release(session, payment)
        emit(session, payment, "payment.failed")
        return "failed"


async def poll_payment(ctx: PaymentsContext, payment_id, now: datetime) -> str:
    payment, attempt = await ctx.db.run(_payment_rows, ctx, payment_id)
    try:
        status = await ctx.channels[attempt.channel].query(attempt.order_no)
    except ChannelError:
        status = None
    if status is not None and status.state != "pending":
        outcome = await ctx.db.run(apply_payment_status, ctx, attempt.order_no, status, "poll")
        if outcome not in ("pending", "amount_mismatch"):
            return outcome
    if now >= payment.expires_at:
        return await _expire(ctx, payment_id, attempt)
    await ctx.db.run(_reschedule, ctx, payment_id, now)
    return "pending"


def _payment_rows(ctx: PaymentsContext, payment_id) -> tuple[Payment, PaymentAttempt]:
    with ctx.db.reader() as session:
        payment = session.get(Payment, payment_id)
        return payment, session.get(PaymentAttempt, payment.active_attempt_id)


async def _expire(ctx: PaymentsContext, payment_id, attempt: PaymentAttempt) -> str:
    """At expiry: close at the channel (which queries first); cancel only once it is closed."""
    if not await close_attempt(ctx, attempt):
        await ctx.db.run(_reschedule, ctx, payment_id, utcnow())
        return "close_pending"
    return await ctx.db.run(_cancel_expired, ctx, payment_id, attempt)


def _cancel_expired(ctx: PaymentsContext, payment_id, attempt: PaymentAttempt) -> str:
    with ctx.db.session() as session, session.begin():
        payment = session.get(Payment, payment_id)
        if payment.status != states.PROCESSING:
            return "stale"
        session.get(PaymentAttempt, attempt.id).status = "closed"
        payment.failure_code, payment.next_poll_at = "expired", None
        states.move_payment(session, payment, states.CANCELED, "expired")
        outbound.release(session, payment)
        emit(session, payment, "payment.canceled")
        return "expired"


def _reschedule(ctx: PaymentsContext, payment_id, now: datetime) -> None:
    with ctx.db.session() as session, session.begin():
        payment = session.get(Payment, payment_id)
        if payment.status != states.PROCESSING:
            return
        delay = min(ctx.poll_initial * (2 ** payment.poll_count), ctx.poll_max)
        # Never sleep past the expiry: that is when the payment must be closed.
        payment.next_poll_at = min(now + delay, max(payment.expires_at, now))
        payment.poll_count += 1


async def poll_refund(ctx: PaymentsContext, refund_id) -> str:
    refund, attempt = await ctx.db.run(_refund_rows, ctx, refund_id)
    try:
        status = await ctx.channels[attempt.channel].query_refund(attempt.order_no, refund.refund_no)
    except ChannelError:
        await ctx.db.run(schedule_poll, ctx, refund_id)
        return "pending"
    if status.state == "not_found":
        return await submit_refund(ctx, refund_id)
    if status.state in ("succeeded", "failed"):
        return await ctx.db.run(apply_refund_status, ctx, status, "poll")
    await ctx.db.run(schedule_poll, ctx, refund_id)
    return "pending"


def _refund_rows(ctx: PaymentsContext, refund_id) -> tuple[Refund, PaymentAttempt]:
    with ctx.db.reader() as session:
        refund = session.get(Refund, refund_id)
        return refund, session.get(PaymentAttempt, refund.attempt_id)
