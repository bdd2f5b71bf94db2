"""Store terminals in the payments core: what the terminal gateway reports becomes payments.

A purchase the acquirer approved is a payment that succeeded at once; a declined one is a
failed payment; an authorisation is a payment left open (the card issuer holds the money)
until its completion captures it; a terminal's reversal of a recorded sale is a refund the
acquirer has already made. Each report names its order, so a repeated report changes
nothing. Any failure here raises: the gateway then reverses the sale at the acquirer and
tells the terminal it did not go through.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.channels.base import ChargeSucceeded, PaymentStatus
from juhe.channels.pos.gateway import Terminal, TerminalReversal, TerminalSale
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.ledger import post
from juhe.payments import states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import MerchantChannel, Payment, PaymentAttempt, PosTerminal, Refund
from juhe.payments.numbers import channel_number
from juhe.payments.outcomes import apply_status, emit, refund_fee_split
from juhe.payments.postings import payment_accounts, refund_posting
from juhe.payments.views import refund_view
from juhe.webhooks.outbox import enqueue_event

AUTHORISATION_VALID = timedelta(days=30)  # card schemes let a pre-authorisation stand about this long


class PosRecordError(Exception):
    """The core cannot take this terminal report (no contract, unknown authorisation, …)."""


def terminal_lookup(db: Database):
    """The gateway's view of registered terminals: enabled ones only."""

    def find(terminal_id: str) -> Terminal | None:
        with db.reader() as session:
            row = session.get(PosTerminal, terminal_id)
        return Terminal(row.terminal_id, row.mac_key) if row is not None and row.enabled else None

    async def lookup(terminal_id: str) -> Terminal | None:
        return await db.run(find, terminal_id)

    return lookup


async def record_pos_event(ctx: PaymentsContext, event: TerminalSale | TerminalReversal) -> str:
    """Returns what happened: recorded, replayed, refunded, canceled, failed or ignored."""
    return await ctx.db.run(_record, ctx, event)


def _record(ctx: PaymentsContext, event: TerminalSale | TerminalReversal) -> str:
    """One commit a report: the payment, and for an approved sale its booking."""
    with ctx.db.session() as session, session.begin():
        if isinstance(event, TerminalReversal):
            return _reversed(session, event)
        outcome = _complete(session, event) if event.kind == "completion" else _open(session, event)
        if outcome != "capture":
            return outcome
        status = event.outcome.status
        apply_status(session, event.order_no, PaymentStatus(event.order_no, "succeeded", event.amount,
                                                            status.channel_txn_id, status.paid_at), "terminal")
        return "recorded"


def _open(session: Session, sale: TerminalSale) -> str:
    """A purchase or authorisation: its payment, in the state the acquirer's answer puts it."""
    terminal = _terminal(session, sale.terminal_id)
    key = f"pos:{sale.order_no}"
    if session.scalar(select(Payment.id).where(Payment.merchant_id == terminal.merchant_id,
                                               Payment.idempotency_key == key)) is not None:
        return "replayed"
    _contract(session, terminal.merchant_id)
    payment, attempt = _payment(session, terminal, sale, key)
    if not isinstance(sale.outcome, ChargeSucceeded):
        attempt.status, attempt.error = "failed", f"{sale.outcome.code}: {sale.outcome.message}"
        payment.failure_code, payment.failure_message = f"card_declined_{sale.outcome.code}", sale.outcome.message
        states.move_payment(session, payment, states.FAILED, "terminal_declined", {"code": sale.outcome.code})
        emit(session, payment, "payment.failed")
        return "failed"
    states.move_payment(session, payment, states.PROCESSING, "terminal_approved", {"kind": sale.kind})
    if sale.kind == "authorisation":
        payment.expires_at, payment.next_poll_at = utcnow() + AUTHORISATION_VALID, None
        emit(session, payment, "payment.authorised")
        return "authorised"
    return "capture"


def _complete(session: Session, sale: TerminalSale) -> str:
    """A completion captures (part of) its authorisation under an order number of its own."""
    if session.scalar(select(PaymentAttempt.id).where(PaymentAttempt.order_no == sale.order_no)) is not None:
        return "replayed"
    held = session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_no == sale.authorisation_no).with_for_update())
    payment = session.get(Payment, held.payment_id, with_for_update=True) if held is not None else None
    if payment is None or payment.status != states.PROCESSING or (payment.meta or {}).get("pos_kind") != "authorisation":
        raise PosRecordError(f"no open authorisation {sale.authorisation_no}")
    if sale.amount.currency != payment.currency or sale.amount.amount_minor > payment.amount_minor:
        raise PosRecordError(f"completion {sale.amount} exceeds its authorisation")
    if not isinstance(sale.outcome, ChargeSucceeded):
        return "ignored"  # the authorisation stands; the terminal may complete it again
    attempt = PaymentAttempt(id=uuid.uuid4(), merchant_id=payment.merchant_id, payment_id=payment.id,
                             channel="pos", order_no=sale.order_no, status="pending")
    session.add(attempt)
    held.status = "closed"
    payment.active_attempt_id, payment.channel_order_no = attempt.id, attempt.order_no
    payment.meta = (payment.meta or {}) | {"pos_kind": "completion", "authorised_minor": payment.amount_minor}
    payment.amount_minor, payment.next_poll_at = sale.amount.amount_minor, utcnow() + timedelta(seconds=30)
    session.flush()  # the booking below finds the completion's attempt by its order number
    return "capture"


def _reversed(session: Session, reversal: TerminalReversal) -> str:
    attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_no == reversal.order_no).with_for_update())
    if attempt is None:
        return "ignored"  # declined at the acquirer, or never reported: no money of ours moved
    payment = session.get(Payment, attempt.payment_id, with_for_update=True)
    if payment.status == states.SUCCEEDED and attempt.status == "succeeded":
        return _refund_reversed(session, payment, attempt, reversal)
    if payment.status == states.PROCESSING and attempt.id == payment.active_attempt_id:
        attempt.status, payment.next_poll_at = "closed", None
        payment.failure_code = "reversed_by_terminal"
        states.move_payment(session, payment, states.CANCELED, "terminal_reversal")
        emit(session, payment, "payment.canceled")
        return "canceled"
    return "ignored"


def _refund_reversed(session: Session, payment: Payment, attempt: PaymentAttempt, reversal: TerminalReversal) -> str:
    key = f"pos-reversal:{reversal.order_no}"
    if session.scalar(select(Refund.id).where(Refund.merchant_id == payment.merchant_id, Refund.idempotency_key == key)):
        return "replayed"
    amount = payment.amount_minor - payment.refunded_minor
    refund = Refund(
        id=uuid.uuid4(), merchant_id=payment.merchant_id, payment_id=payment.id, attempt_id=attempt.id,
        refund_no=channel_number(), idempotency_key=key, request_hash="", amount_minor=amount,
        currency=payment.currency, reason="reversed by the terminal", status="succeeded", poll_count=0,
    )
    session.add(refund)
    accounts = payment_accounts(session.connection(), payment.merchant_id, payment.store_id, payment.business_line_id,
                                "pos", payment.currency)
    refund.ledger_txn_id = post(session.connection(), refund_posting(
        f"refund:{refund.id}:booked", payment.merchant_id, accounts, amount, refund_fee_split(payment, amount),
        {"payment_id": str(payment.id), "refund_id": str(refund.id), "reversal": reversal.order_no})).id
    payment.refunded_minor += amount
    enqueue_event(session, payment.merchant_id, "refund.succeeded", refund_view(refund))
    return "refunded"


def _terminal(session: Session, terminal_id: str) -> PosTerminal:
    terminal = session.get(PosTerminal, terminal_id)
    if terminal is None or not terminal.enabled:
        raise PosRecordError(f"terminal {terminal_id} is not registered")
    return terminal


def _contract(session: Session, merchant_id: uuid.UUID) -> None:
    contract = session.get(MerchantChannel, (merchant_id, "pos"))
    if contract is None or not contract.enabled:
        raise PosRecordError("the merchant has no card-acquiring contract")


def _payment(session: Session, terminal: PosTerminal, sale: TerminalSale, key: str) -> tuple[Payment, PaymentAttempt]:
    now = utcnow()
    payment = Payment(
        id=uuid.uuid4(), merchant_id=terminal.merchant_id, store_id=terminal.store_id, idempotency_key=key,
        request_hash="", amount_minor=sale.amount.amount_minor, currency=sale.amount.currency, scenario="pos",
        subject=f"card payment at terminal {sale.terminal_id}", status=states.REQUIRES_PAYMENT_METHOD,
        channel="pos", channel_order_no=sale.order_no, next_action={"type": "none"},
        meta={"pos_kind": sale.kind, "terminal_id": sale.terminal_id, "card_token": sale.card_token,
              "card_display": sale.card_display},
        expires_at=now + timedelta(minutes=15), created_at=now, updated_at=now, refunded_minor=0, fee_minor=0,
        channel_fee_minor=0, poll_count=0, next_poll_at=now + timedelta(seconds=30),
    )
    attempt = PaymentAttempt(id=uuid.uuid4(), merchant_id=terminal.merchant_id, payment_id=payment.id, channel="pos",
                             order_no=sale.order_no, status="pending")
    payment.active_attempt_id = attempt.id
    session.add(payment)
    session.flush()
    session.add(attempt)
    states.record_created(session, payment)
    return payment, attempt
