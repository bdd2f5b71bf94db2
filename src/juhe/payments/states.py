"""The payment and refund state machines. Every transition is checked here and recorded with
its cause; anything else is an IllegalTransition (HTTP 409) that changes nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from juhe.db.types import utcnow
from juhe.payments.models import Payment, PaymentEvent

REQUIRES_PAYMENT_METHOD = "requires_payment_method"
REQUIRES_ACTION = "requires_action"
PROCESSING = "processing"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"

PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    REQUIRES_PAYMENT_METHOD: frozenset({REQUIRES_ACTION, PROCESSING, FAILED, CANCELED}),
    # verified (or released by AML review): on to the channels
    REQUIRES_ACTION: frozenset({REQUIRES_PAYMENT_METHOD, PROCESSING, FAILED, CANCELED}),
    PROCESSING: frozenset({SUCCEEDED, FAILED, CANCELED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELED: frozenset(),
}
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELED})

REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"succeeded", "failed"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, kind: str, current: str, wanted: str):
        super().__init__(f"a {kind} that is {current} cannot become {wanted}")
        self.current = current
        self.wanted = wanted


def move_payment(session: Session, payment: Payment, to: str, cause: str, detail: dict | None = None) -> None:
    if to not in PAYMENT_TRANSITIONS[payment.status]:
        raise IllegalTransition("payment", payment.status, to)
    session.add(PaymentEvent(
        merchant_id=payment.merchant_id, payment_id=payment.id, from_status=payment.status, to_status=to,
        cause=cause, detail=detail, at=utcnow(),
    ))
    payment.status = to


def record_created(session: Session, payment: Payment) -> None:
    session.add(PaymentEvent(
        merchant_id=payment.merchant_id, payment_id=payment.id, from_status=None, to_status=payment.status,
        cause="created", detail=None, at=utcnow(),
    ))


def check_refund_move(current: str, to: str) -> None:
    if to not in REFUND_TRANSITIONS[current]:
        raise IllegalTransition("refund", current, to)


def record_event(session: Session, payment: Payment, cause: str, detail: dict | None = None) -> None:
    """A timeline entry that changes no status (e.g. a duplicate payout finance must recall)."""
    session.add(PaymentEvent(
        merchant_id=payment.merchant_id, payment_id=payment.id, from_status=payment.status, to_status=payment.status,
        cause=cause, detail=detail, at=utcnow(),
    ))
