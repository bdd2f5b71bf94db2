"""Credit lines and orders: decide a line, approve an order against it (a hold), capture it
when the goods ship (the merchant is paid, the payer owes), cancel an approval.

Every function runs in the caller's transaction and locks the line, then the order (always in
that order, here, in repayments and in the worker), so that limits and balances are decided
on rows nobody else is changing. A refusal raises BnplError before anything is written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from juhe.bnpl import postings, schedule
from juhe.bnpl.credit import decide
from juhe.bnpl.errors import BnplError
from juhe.bnpl.history import payer_history
from juhe.bnpl.models import BnplInstallment, BnplLine, BnplOrder
from juhe.bnpl.views import line_view, order_view
from juhe.db.models import Store
from juhe.ledger import post, post_many
from juhe.ledger.accounts import ACCOUNTS
from juhe.money import Money
from juhe.webhooks.outbox import enqueue_event

APPROVAL_TTL = timedelta(days=7)  # goods not shipped by then: the approval lapses and the line is freed
HOLD_SLACK = timedelta(days=1)  # the ledger hold outlives the approval, so the worker (not the ledger sweep) ends it


def decide_line(session: Session, merchant_id: uuid.UUID, customer_id: str, currency: str, now: datetime) -> BnplLine:
    """Decide (or decide again) the payer's line from their history. A suspended line stays so."""
    line = session.scalar(select(BnplLine).where(BnplLine.merchant_id == merchant_id, BnplLine.customer_id == customer_id,
                                                 BnplLine.currency == currency).with_for_update())
    history = payer_history(session, merchant_id, customer_id, currency, now)
    decision = decide(history)
    if line is None:
        line = BnplLine(id=uuid.uuid4(), merchant_id=merchant_id, customer_id=customer_id, currency=currency,
                        held_minor=0, owed_minor=0, created_at=now)
        session.add(line)
    if line.status != "suspended":
        line.status = "active" if decision.approved else "declined"
        line.limit_minor = decision.limit_minor
    line.decision = {"history": history.as_json(), "approved": decision.approved, "reasons": list(decision.reasons)}
    line.decided_at = now
    session.flush()
    enqueue_event(session, merchant_id, "bnpl.line.decided", line_view(line))
    return line


@dataclass(frozen=True, slots=True)
class NewOrder:
    customer_id: str
    amount_minor: int
    currency: str
    subject: str
    installments: int
    store_id: uuid.UUID | None = None


def approve_order(session: Session, merchant_id: uuid.UUID, scope: str, new: NewOrder, now: datetime) -> BnplOrder:
    """Approve at checkout: the amount is held on the line and in the ledger, or refused."""
    if new.installments not in schedule.INSTALLMENT_COUNTS:
        raise BnplError(422, "invalid_installments", f"installments is one of {schedule.INSTALLMENT_COUNTS}")
    _check_store(session, merchant_id, new.store_id)
    line = session.scalar(select(BnplLine).where(
        BnplLine.merchant_id == merchant_id, BnplLine.customer_id == new.customer_id,
        BnplLine.currency == new.currency).with_for_update())
    if line is None:
        raise BnplError(404, "bnpl_line_not_found", f"no {new.currency} credit line for customer {new.customer_id}; decide one first")
    if line.status != "active":
        raise BnplError(409, "bnpl_line_not_active", f"the credit line is {line.status}")
    available = line.limit_minor - line.held_minor - line.owed_minor
    if new.amount_minor > available:
        raise BnplError(422, "over_credit_limit", f"{new.amount_minor} is above what the line has available ({available})",
                        available_minor=available)
    order = BnplOrder(
        id=uuid.uuid4(), merchant_id=merchant_id, line_id=line.id, customer_id=new.customer_id, store_id=new.store_id,
        idempotency_key=scope, subject=new.subject, currency=new.currency, amount_minor=new.amount_minor,
        installments=new.installments, status="approved", principal_minor=0, fees_minor=0, repaid_minor=0,
        reserved_minor=0, written_off_minor=0, merchant_fee_minor=0, expires_at=now + APPROVAL_TTL, created_at=now,
    )
    conn = session.connection()
    order.hold_txn_id = post(conn, postings.approval_hold(conn, order, order.expires_at + HOLD_SLACK), now).id
    line.held_minor += new.amount_minor
    session.add(order)
    session.flush()
    enqueue_event(session, merchant_id, "bnpl.order.approved", order_view(order, []))
    return order


def locked_order(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID) -> tuple[BnplLine, BnplOrder]:
    found = session.get(BnplOrder, order_id)
    if found is None or found.merchant_id != merchant_id:
        raise BnplError(404, "bnpl_order_not_found", f"no BNPL order {order_id}")
    line = session.get(BnplLine, found.line_id, with_for_update=True)
    order = session.get(BnplOrder, order_id, with_for_update=True, populate_existing=True)
    return line, order


def capture_order(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID, amount_minor: int | None,
                  now: datetime) -> BnplOrder:
    """The goods shipped: the merchant is paid (less its fee) and the payer owes the installments."""
    line, order = locked_order(session, merchant_id, order_id)
    _check_status(order, "approved", "captured")
    if now >= order.expires_at:
        raise BnplError(409, "bnpl_approval_expired", f"the approval lapsed at {order.expires_at.isoformat()}")
    amount = order.amount_minor if amount_minor is None else amount_minor
    if not 0 < amount <= order.amount_minor:
        raise BnplError(422, "capture_exceeds_approval", f"capture {amount} is not within 1–{order.amount_minor}")
    post_many(session.connection(), postings.capture(session.connection(), order, amount), now)
    parts = schedule.plan(now, Money(amount, order.currency), order.installments)
    session.add_all([BnplInstallment(id=uuid.uuid4(), merchant_id=merchant_id, order_id=order.id, seq=p.seq, due_at=p.due_at,
                                     principal_minor=p.principal_minor, late_fee_minor=0, paid_minor=0, reminders=[])
                     for p in parts])
    line.held_minor -= order.amount_minor
    line.owed_minor += amount
    order.status, order.principal_minor, order.captured_at = "captured", amount, now
    order.merchant_fee_minor = postings.merchant_fee_minor(amount)
    order.review_at = schedule.review_at(parts, now)
    session.flush()
    enqueue_event(session, merchant_id, "bnpl.order.captured", order_view(order, installments_of(session, order)))
    return order


def cancel_order(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID, now: datetime) -> BnplOrder:
    """The order will not ship: the approval is released, the line freed. Captured orders are repaid, not canceled."""
    line, order = locked_order(session, merchant_id, order_id)
    _check_status(order, "approved", "canceled")
    end_approval(session, line, order, "canceled", now)
    return order


def end_approval(session: Session, line: BnplLine, order: BnplOrder, status: str, now: datetime) -> None:
    post(session.connection(), postings.release(order), now)
    line.held_minor -= order.amount_minor
    order.status, order.closed_at = status, now
    enqueue_event(session, order.merchant_id, f"bnpl.order.{status}", order_view(order, []))


def installments_of(session: Session, order: BnplOrder) -> list[BnplInstallment]:
    return list(session.scalars(select(BnplInstallment).where(BnplInstallment.order_id == order.id).order_by(BnplInstallment.seq)))


def owed_minor(order: BnplOrder) -> int:
    return order.principal_minor + order.fees_minor - order.repaid_minor - order.written_off_minor


def exposure(session: Session, currency: str) -> tuple[int, int]:
    """(what the orders say payers owe, what `receivable:bnpl` holds): always equal."""
    booked = session.scalar(select(func.coalesce(func.sum(
        BnplOrder.principal_minor + BnplOrder.fees_minor - BnplOrder.repaid_minor - BnplOrder.written_off_minor), 0))
        .where(BnplOrder.currency == currency, BnplOrder.status.in_(("captured", "repaid", "defaulted"))))
    row = session.execute(select(ACCOUNTS.c.debits_posted, ACCOUNTS.c.credits_posted).where(
        ACCOUNTS.c.code == postings.RECEIVABLE, ACCOUNTS.c.currency == currency)).first()
    return booked, (row.debits_posted - row.credits_posted) if row else 0


def _check_store(session: Session, merchant_id: uuid.UUID, store_id: uuid.UUID | None) -> None:
    if store_id is None:
        return
    store = session.get(Store, store_id)
    if store is None or store.merchant_id != merchant_id:
        raise BnplError(404, "store_not_found", f"no store {store_id}")


def _check_status(order: BnplOrder, wanted: str, to: str) -> None:
    if order.status != wanted:
        raise BnplError(409, "illegal_transition", f"a BNPL order that is {order.status} cannot be {to}",
                        current_status=order.status, wanted_status=to)
