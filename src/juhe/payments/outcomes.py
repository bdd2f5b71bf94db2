"""What the channel says happened — by notification, query or poll — applied exactly once.

Duplicates and out-of-order news are harmless: a terminal state never moves, a success is
booked once (the attempt row is locked while deciding), and money that arrives for an order
we no longer want (a late or second payment) is booked and refunded, never kept silently."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from juhe.channels.base import ChannelError, PaymentStatus, RefundStatus
from juhe.db.types import utcnow
from juhe.ledger import Reverse, post
from juhe.money import Money
from juhe.payments import outbound, states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import MerchantChannel, Payment, PaymentAttempt, Refund
from juhe.payments.numbers import channel_number
from juhe.payments.postings import (
    CHANNEL_FEE_KEPT_ON_REFUND, FeeSplit, PaymentAccounts, collection_posting, fees_for, payment_accounts, refund_fees, refund_posting,
)
from juhe.payments.purposes import purpose
from juhe.payments.views import payment_view, refund_view
from juhe.settlement.schedules import merchant_fee_minor
from juhe.webhooks.outbox import enqueue_event


def emit(session: Session, payment: Payment, event_type: str) -> None:
    enqueue_event(session, payment.merchant_id, event_type, payment_view(payment))


def apply_payment_status(ctx: PaymentsContext, order_no: str, status: PaymentStatus, source: str) -> str:
    """`apply_status` in a transaction of its own (call it on the database's threads)."""
    with ctx.db.session() as session, session.begin():
        return apply_status(session, order_no, status, source)


def apply_status(session: Session, order_no: str, status: PaymentStatus, source: str) -> str:
    """Returns the outcome: applied, duplicate, stale, pending, orphan_refunded, unknown_order, amount_mismatch."""
    attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_no == order_no).with_for_update())
    if attempt is None:
        return "unknown_order"
    payment = session.scalar(select(Payment).where(Payment.id == attempt.payment_id).with_for_update())
    if status.amount is not None and status.amount != Money(payment.amount_minor, payment.currency):
        return "amount_mismatch"
    if status.state == "succeeded":
        return _succeeded(session, payment, attempt, status, source)
    if status.state in ("closed", "failed"):
        return _ended(session, payment, attempt, status, source)
    return "pending"


def _succeeded(session: Session, payment: Payment, attempt: PaymentAttempt, status: PaymentStatus, source: str) -> str:
    if attempt.status == "succeeded":
        return "duplicate"
    if attempt.status == "creating" and payment.status == states.REQUIRES_PAYMENT_METHOD:
        # Paid while our create call is still out (its answer is late, or it timed out and this
        # is the query before failover): the order is this payment's own, not an orphan.
        payment.channel, payment.active_attempt_id, payment.channel_order_no = attempt.channel, attempt.id, attempt.order_no
        states.move_payment(session, payment, states.PROCESSING, "channel_paid_before_answer", {"channel": attempt.channel})
    attempt.status, attempt.channel_txn_id = "succeeded", status.channel_txn_id
    if outbound.is_outbound(payment):
        return _paid_out(session, payment, attempt, status, source)
    fees, accounts = _collection_terms(session, payment, attempt.channel)
    meta = {"payment_id": str(payment.id), "channel": attempt.channel, "channel_txn_id": status.channel_txn_id}
    txn = post(session.connection(), collection_posting(
        f"payment:{attempt.id}:collected", payment.merchant_id, accounts, payment.amount_minor, fees, meta))
    if payment.status != states.PROCESSING or attempt.id != payment.active_attempt_id:
        _refund_orphan(session, payment, attempt, fees, accounts)
        return "orphan_refunded"
    payment.ledger_txn_id, payment.paid_at = txn.id, status.paid_at or utcnow()
    payment.fee_minor, payment.channel_fee_minor = fees.merchant_fee_minor, fees.channel_fee_minor
    payment.next_poll_at = None
    states.move_payment(session, payment, states.SUCCEEDED, f"channel_{source}", {"channel_txn_id": status.channel_txn_id})
    emit(session, payment, "payment.succeeded")
    if payment.purpose is not None:
        purpose(payment.purpose).succeeded(session, payment)
    return "applied"


def _collection_terms(session: Session, payment: Payment, channel: str) -> tuple[FeeSplit, PaymentAccounts]:
    contract = session.get(MerchantChannel, (payment.merchant_id, channel))
    fees = fees_for(payment.amount_minor, contract.merchant_fee_bps, contract.channel_fee_bps)
    conn = session.connection()
    accounts = payment_accounts(conn, payment.merchant_id, payment.store_id, payment.business_line_id, channel, payment.currency)
    served = purpose(payment.purpose) if payment.purpose is not None else None
    if served is not None and served.own_account:
        # Money that pays off what a payer owes (a BNPL balance) is not a sale: no merchant fee,
        # and it credits that account instead of the merchant's payable.
        return FeeSplit(0, fees.channel_fee_minor), replace(accounts, payable=served.credit_account(conn, payment))
    scheduled = merchant_fee_minor(conn, payment.merchant_id, channel, payment.amount_minor, utcnow())
    if scheduled is not None:  # a fee schedule, where the merchant has one, prices it instead of the flat rate
        fees = FeeSplit(scheduled, fees.channel_fee_minor)
    if served is not None and hasattr(served, "collection_fees"):  # e.g. an installment fee the merchant bears
        fees = served.collection_fees(session, payment, fees)
    return fees, accounts


def _paid_out(session: Session, payment: Payment, attempt: PaymentAttempt, status: PaymentStatus, source: str) -> str:
    if payment.status != states.PROCESSING or attempt.id != payment.active_attempt_id:
        # A second transfer for one payment cannot be refunded by us: finance must recall it.
        states.record_event(session, payment, "duplicate_payout", {"order_no": attempt.order_no})
        return "duplicate_payout"
    outbound.capture(session, payment)
    payment.paid_at, payment.next_poll_at = status.paid_at or utcnow(), None
    states.move_payment(session, payment, states.SUCCEEDED, f"channel_{source}", {"channel_txn_id": status.channel_txn_id})
    emit(session, payment, "payment.succeeded")
    return "applied"


def _refund_orphan(session: Session, payment: Payment, attempt: PaymentAttempt, fees: FeeSplit, accounts: PaymentAccounts) -> None:
    """Money for an attempt we abandoned, or a second payment: give it back in full."""
    refund = Refund(
        id=uuid.uuid4(), merchant_id=payment.merchant_id, payment_id=payment.id, attempt_id=attempt.id,
        refund_no=channel_number(), idempotency_key=f"orphan:{attempt.id}", request_hash="", amount_minor=payment.amount_minor,
        currency=payment.currency, reason="automatic refund: payment for an abandoned or duplicate order",
        status="pending", next_poll_at=utcnow(), poll_count=0,
    )
    session.add(refund)
    refund.ledger_txn_id = post(session.connection(), refund_posting(
        f"refund:{refund.id}:booked", payment.merchant_id, accounts, payment.amount_minor, fees,
        {"payment_id": str(payment.id), "refund_id": str(refund.id), "orphan": True})).id


def _ended(session: Session, payment: Payment, attempt: PaymentAttempt, status: PaymentStatus, source: str) -> str:
    if attempt.status in ("succeeded", "closed", "failed"):
        return "stale"
    attempt.status = "closed" if status.state == "closed" else "failed"
    if attempt.id != payment.active_attempt_id or payment.status != states.PROCESSING:
        return "stale"
    payment.next_poll_at = None
    if status.state == "failed":
        payment.failure_code = status.failure_code or "declined"
        states.move_payment(session, payment, states.FAILED, f"channel_{source}", {"failure_code": payment.failure_code})
        outbound.release(session, payment)
        emit(session, payment, "payment.failed")
    else:
        payment.failure_code = "expired"
        states.move_payment(session, payment, states.CANCELED, f"channel_closed_{source}")
        outbound.release(session, payment)
        emit(session, payment, "payment.canceled")
    return "applied"


@dataclass(frozen=True, slots=True)
class Closing:
    closed: bool  # the channel confirms no payment can happen on the order
    paid: PaymentStatus | None = None  # it was paid before it could be closed


async def close_at_channel(adapter, order_no: str) -> Closing:
    """Query, then close."""
    try:
        status = await adapter.query(order_no)
        if status.state == "succeeded":
            return Closing(False, status)
        if status.state not in ("not_found", "closed", "failed"):
            await adapter.close(order_no)
        return Closing(True)
    except ChannelError:
        return Closing(False)


async def close_attempt(ctx: PaymentsContext, attempt: PaymentAttempt) -> bool:
    """Query, then close; a paid order is booked. True when no payment can happen on the order."""
    closing = await close_at_channel(ctx.channels[attempt.channel], attempt.order_no)
    if closing.paid is not None:
        await ctx.db.run(apply_payment_status, ctx, attempt.order_no, closing.paid, "query")
    return closing.closed


def apply_refund_status(ctx: PaymentsContext, status: RefundStatus, source: str) -> str:
    """`refund_status` in a transaction of its own (call it on the database's threads)."""
    with ctx.db.session() as session, session.begin():
        return refund_status(session, status, source)


def refund_status(session: Session, status: RefundStatus, source: str) -> str:
    refund = session.scalar(select(Refund).where(Refund.refund_no == status.refund_id).with_for_update())
    if refund is None:
        return "unknown_refund"
    if status.amount is not None and status.amount != Money(refund.amount_minor, refund.currency):
        return "amount_mismatch"
    if status.state not in ("succeeded", "failed"):
        return "pending"
    if refund.status != "pending":
        return "duplicate" if refund.status == status.state else "stale"
    states.check_refund_move(refund.status, status.state)
    refund.status, refund.channel_refund_id, refund.next_poll_at = status.state, status.channel_refund_id, None
    payment = session.scalar(select(Payment).where(Payment.id == refund.payment_id).with_for_update())
    if status.state == "failed":
        refund.failure_code = status.failure_code or "refund_failed"
        post(session.connection(), Reverse(f"refund:{refund.id}:reversed", refund.ledger_txn_id, "refund failed at the channel"))
        if refund.attempt_id == payment.active_attempt_id:
            payment.refunded_minor -= refund.amount_minor
    enqueue_event(session, refund.merchant_id, f"refund.{status.state}", refund_view(refund))
    return "applied"


def refund_fee_split(payment: Payment, refund_minor: int) -> FeeSplit:
    kept = payment.channel in CHANNEL_FEE_KEPT_ON_REFUND
    merchant_fee = payment.fee_minor
    served = purpose(payment.purpose) if payment.purpose is not None else None
    if kept and served is not None and hasattr(served, "fee_kept_on_refund"):
        # A fee the merchant bore and the channel keeps on a refund (a subsidised card installment) stays borne.
        merchant_fee -= served.fee_kept_on_refund(object_session(payment), payment)
    return refund_fees(payment.amount_minor, FeeSplit(merchant_fee, payment.channel_fee_minor),
                       payment.refunded_minor, refund_minor, channel_fee_kept=kept)
