"""Refunds, full or partial, never above what is left to refund.

The refund is booked in the ledger (and the refundable amount reduced) in the same commit
that records it, before the channel is called: two concurrent refunds cannot both pass the
check, and a merchant whose payable is already paid out cannot refund money it no longer has.
A refund the channel rejects is reversed."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from juhe.channels.base import ChannelError, RefundRequest
from juhe.db.types import utcnow
from juhe.ledger import post
from juhe.money import Money
from juhe.payments import states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment, PaymentAttempt, Refund
from juhe.payments.outcomes import apply_refund_status, refund_fee_split
from juhe.payments.numbers import channel_number
from juhe.payments.postings import payment_accounts, refund_posting
from juhe.payments.purposes import purpose
from juhe.payments.service import PaymentError


async def create_refund(
    ctx: PaymentsContext, merchant_id: uuid.UUID, payment_id: uuid.UUID, key: str, request_hash: str,
    amount_minor: int | None, reason: str,
) -> tuple[Refund, bool]:
    refund, created = await ctx.db.run(_book_once, ctx, merchant_id, payment_id, key, request_hash, amount_minor, reason)
    if created:
        await submit_refund(ctx, refund.id)
    return await ctx.db.run(_read, ctx, refund.id), created


def _book_once(ctx, merchant_id, payment_id, key, request_hash, amount_minor, reason) -> tuple[Refund, bool]:
    try:
        return _book(ctx, merchant_id, payment_id, key, request_hash, amount_minor, reason)
    except IntegrityError:
        with ctx.db.reader() as session:
            return _replay(session, merchant_id, key, request_hash), False


def _read(ctx: PaymentsContext, refund_id: uuid.UUID) -> Refund:
    with ctx.db.reader() as session:
        return session.get(Refund, refund_id)


def _book(ctx, merchant_id, payment_id, key, request_hash, amount_minor, reason) -> tuple[Refund, bool]:
    with ctx.db.session() as session, session.begin():
        existing = session.scalar(select(Refund).where(Refund.merchant_id == merchant_id, Refund.idempotency_key == key))
        if existing is not None:
            return _replay(session, merchant_id, key, request_hash), False
        payment = session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
        if payment is None or payment.merchant_id != merchant_id:
            raise PaymentError(404, "payment_not_found", f"no payment {payment_id}")
        if payment.status != states.SUCCEEDED:
            raise PaymentError(409, "payment_not_refundable", f"a payment that is {payment.status} cannot be refunded")
        if payment.purpose is not None and purpose(payment.purpose).own_account:
            raise PaymentError(409, "payment_not_refundable", "a repayment pays off a balance: it is not refunded, the balance is corrected")
        refundable = payment.amount_minor - payment.refunded_minor
        amount = refundable if amount_minor is None else amount_minor
        if amount <= 0 or amount > refundable:
            raise PaymentError(422, "refund_exceeds_refundable", f"refund {amount} is not within 1–{refundable} (what is left)")
        refund = Refund(
            id=uuid.uuid4(), merchant_id=merchant_id, payment_id=payment.id, attempt_id=payment.active_attempt_id,
            refund_no=channel_number(),
            idempotency_key=key, request_hash=request_hash, amount_minor=amount, currency=payment.currency,
            reason=reason, status="pending", poll_count=0,
        )
        session.add(refund)
        fees = refund_fee_split(payment, amount)
        accounts = payment_accounts(session.connection(), merchant_id, payment.store_id, payment.business_line_id,
                                    payment.channel, payment.currency)
        refund.ledger_txn_id = post(session.connection(), refund_posting(
            f"refund:{refund.id}:booked", merchant_id, accounts, amount, fees,
            {"payment_id": str(payment.id), "refund_id": str(refund.id)})).id
        payment.refunded_minor += amount
        return refund, True


def _replay(session, merchant_id, key, request_hash) -> Refund:
    refund = session.scalar(select(Refund).where(Refund.merchant_id == merchant_id, Refund.idempotency_key == key))
    if refund.request_hash != request_hash:
        raise PaymentError(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
    return refund


async def submit_refund(ctx: PaymentsContext, refund_id: uuid.UUID) -> str:
    """Ask the channel to refund (its refund number is ours, so asking twice refunds once)."""
    refund, attempt, payment = await ctx.db.run(_refund_rows, ctx, refund_id)
    request = RefundRequest(
        payment_id=attempt.order_no, refund_id=refund.refund_no, amount=Money(refund.amount_minor, refund.currency),
        payment_total=Money(payment.amount_minor, payment.currency), reason=refund.reason or "refund",
        notify_url=ctx.notify_url(attempt.channel),
    )
    try:
        status = await ctx.channels[attempt.channel].refund(request)
    except ChannelError:
        status = None
    if status is not None and status.state in ("succeeded", "failed"):
        return await ctx.db.run(apply_refund_status, ctx, status, "refund_answer")
    await ctx.db.run(schedule_poll, ctx, refund_id)
    return "pending"


def _refund_rows(ctx: PaymentsContext, refund_id: uuid.UUID) -> tuple[Refund, PaymentAttempt, Payment]:
    with ctx.db.reader() as session:
        refund = session.get(Refund, refund_id)
        return refund, session.get(PaymentAttempt, refund.attempt_id), session.get(Payment, refund.payment_id)


def schedule_poll(ctx: PaymentsContext, refund_id: uuid.UUID) -> None:
    with ctx.db.session() as session, session.begin():
        refund = session.get(Refund, refund_id)
        if refund.status == "pending":
            delay = min(ctx.poll_initial * (2 ** refund.poll_count), ctx.poll_max)
            refund.next_poll_at, refund.poll_count = utcnow() + delay, refund.poll_count + 1
