"""The worker's BNPL job, on a clock it is given (tests move it): approvals that lapsed,
repayments whose payment failed, and for each order with something due — reminders on the
dunning schedule, late fees, default and write-off. Each order in a transaction of its own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.bnpl import postings, schedule
from juhe.bnpl.models import BnplLine, BnplOrder, BnplRepayment
from juhe.bnpl.repayments import part_of, payment_key
from juhe.bnpl.service import end_approval, installments_of, locked_order, owed_minor
from juhe.bnpl.views import installment_view, order_view, repayment_view
from juhe.db.engine import Database
from juhe.ledger import post
from juhe.payments.models import Payment
from juhe.webhooks.outbox import enqueue_event

ORDERS_PER_RUN = 500  # per kind of work and run; the next run takes the rest
STALE_RESERVATION = timedelta(minutes=10)  # a repayment whose payment was never created (a crash in between)


@dataclass
class DueRun:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("expired", "repayments_failed", "reminders", "late_fees", "defaults"), 0))


def run_due(db: Database, now: datetime) -> DueRun:
    run = DueRun()
    with db.reader() as session:
        lapsed = session.scalars(select(BnplOrder.id).where(BnplOrder.status == "approved", BnplOrder.expires_at <= now)
                                 .limit(ORDERS_PER_RUN)).all()
        failed = session.scalars(_failed_repayments(now).limit(ORDERS_PER_RUN)).all()
        due = session.scalars(select(BnplOrder.id).where(BnplOrder.status == "captured", BnplOrder.review_at <= now)
                              .order_by(BnplOrder.review_at).limit(ORDERS_PER_RUN)).all()
    for order_id in lapsed:
        with db.session() as session, session.begin():
            run.counts["expired"] += _lapse(session, order_id, now)
    for repayment_id in failed:
        with db.session() as session, session.begin():
            run.counts["repayments_failed"] += release_failed(session, repayment_id, now)
    for order_id in due:
        with db.session() as session, session.begin():
            for kind, n in review_order(session, order_id, now).items():
                run.counts[kind] += n
    return run


def _failed_repayments(now: datetime):
    ended = select(Payment.id).where(Payment.id == BnplRepayment.payment_id, Payment.status.in_(("failed", "canceled")))
    return select(BnplRepayment.id).where(BnplRepayment.status == "pending").where(
        ended.exists() | (BnplRepayment.payment_id.is_(None) & (BnplRepayment.created_at <= now - STALE_RESERVATION)))


def _lapse(session: Session, order_id: uuid.UUID, now: datetime) -> int:
    order = session.get(BnplOrder, order_id)
    line, order = locked_order(session, order.merchant_id, order_id)
    if order.status != "approved" or order.expires_at > now:
        return 0
    end_approval(session, line, order, "expired", now)
    return 1


def release_failed(session: Session, repayment_id: uuid.UUID, now: datetime) -> int:
    """The repayment's payment failed or was canceled (or never made): its reservation comes back."""
    found = session.get(BnplRepayment, repayment_id)
    line, order = locked_order(session, found.merchant_id, found.order_id)
    repayment = session.get(BnplRepayment, repayment_id, with_for_update=True, populate_existing=True)
    if repayment.status != "pending" or not _payment_ended(session, repayment, now):
        return 0
    repayment.status, repayment.settled_at = "failed", now
    order.reserved_minor -= repayment.amount_minor
    if order.status == "defaulted" and owed_minor(order) > order.reserved_minor:
        # It was in flight at the default, so it was not written off then: its remainder is now.
        remainder = owed_minor(order) - order.reserved_minor
        post(session.connection(), postings.write_off(session.connection(), order, remainder, f"repayment:{repayment.id}"), now)
        order.written_off_minor += remainder
    enqueue_event(session, order.merchant_id, "bnpl.repayment.failed", repayment_view(repayment))
    return 1


def _payment_ended(session: Session, repayment: BnplRepayment, now: datetime) -> bool:
    if repayment.payment_id is None:
        made = session.scalar(select(Payment.id).where(Payment.merchant_id == repayment.merchant_id,
                                                       Payment.idempotency_key == payment_key(repayment.id)))
        return made is None and repayment.created_at <= now - STALE_RESERVATION
    return session.get(Payment, repayment.payment_id).status in ("failed", "canceled")


def review_order(session: Session, order_id: uuid.UUID, now: datetime) -> dict[str, int]:
    order = session.get(BnplOrder, order_id)
    line, order = locked_order(session, order.merchant_id, order_id)
    done = {"reminders": 0, "late_fees": 0, "defaults": 0}
    if order.status != "captured":
        return done
    rows = {row.seq: row for row in installments_of(session, order)}
    for action in schedule.due_actions([part_of(r) for r in rows.values()], now):
        if isinstance(action, schedule.Default):
            _default(session, line, order, action, now)
            done["defaults"] += 1
        elif isinstance(action, schedule.LateFee):
            _charge_late_fee(session, line, order, rows[action.seq], action.amount_minor, now)
            done["late_fees"] += 1
        else:
            row = rows[action.seq]
            row.reminders = sorted(set(row.reminders or []) | set(action.passed))
            enqueue_event(session, order.merchant_id, "bnpl.reminder", {
                "stage": action.stage, "order_id": str(order.id), "customer_id": order.customer_id,
                "installment": installment_view(row)})
            done["reminders"] += 1
    order.review_at = schedule.review_at([part_of(r) for r in rows.values()], now) if order.status == "captured" else None
    return done


def _charge_late_fee(session: Session, line: BnplLine, order: BnplOrder, row, amount_minor: int, now: datetime) -> None:
    post(session.connection(), postings.late_fee(session.connection(), order, row.seq, amount_minor), now)
    row.late_fee_minor += amount_minor
    order.fees_minor += amount_minor
    line.owed_minor += amount_minor
    enqueue_event(session, order.merchant_id, "bnpl.installment.late", {
        "order_id": str(order.id), "customer_id": order.customer_id, "installment": installment_view(row)})


def _default(session: Session, line: BnplLine, order: BnplOrder, action: schedule.Default, now: datetime) -> None:
    """Written off, except what a repayment in flight may still bring; the line is suspended."""
    amount = owed_minor(order) - order.reserved_minor
    if amount > 0:
        post(session.connection(), postings.write_off(session.connection(), order, amount, "default"), now)
        order.written_off_minor += amount
    line.owed_minor -= amount + order.reserved_minor  # the line no longer counts this order at all
    line.status = "suspended"
    order.status, order.closed_at = "defaulted", now
    enqueue_event(session, order.merchant_id, "bnpl.order.defaulted",
                  order_view(order) | {"overdue_since": action.since.isoformat()})
