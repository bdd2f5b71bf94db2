"""Repayments: a payer pays back part or all of an order through the payments core, on any
channel the merchant has (a payment with purpose `bnpl_repayment`, which credits
`receivable:bnpl` instead of the merchant).

The amount is reserved on the order, under its lock, in the commit that records the
repayment: two repayments at once can never add up to more than is owed. It is applied to
the installments (earliest first) in the commit that books the payment; a payment that fails
or is canceled gives the reservation back (`bnpl.dunning.release_failed`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.bnpl import postings, schedule
from juhe.bnpl.errors import BnplError
from juhe.bnpl.models import BnplLine, BnplOrder, BnplRepayment
from juhe.bnpl.service import installments_of, locked_order, owed_minor
from juhe.bnpl.views import order_view, repayment_view
from juhe.channels.base import Scenario
from juhe.db.types import utcnow
from juhe.money import Money
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment
from juhe.payments.service import NewPayment, create_payment
from juhe.payments.views import payment_view
from juhe.webhooks.outbox import enqueue_event

PURPOSE_NAME = "bnpl_repayment"


def payment_key(repayment_id: uuid.UUID) -> str:
    return f"bnpl-repayment:{repayment_id}"


class RepaymentPurpose:
    own_account = True

    def credit_account(self, conn, payment: Payment) -> uuid.UUID:
        return postings.receivable(conn, payment.currency)

    def succeeded(self, session: Session, payment: Payment) -> None:
        apply_repayment(session, payment)


PURPOSE = RepaymentPurpose()


@dataclass(frozen=True, slots=True)
class RepaymentRequest:
    amount_minor: int | None  # None: everything still owed (early repayment in full)
    scenario: Scenario
    preferred_channel: str | None = None
    return_url: str | None = None
    payer: dict = field(default_factory=dict)


async def start_repayment(ctx: PaymentsContext, merchant_id: uuid.UUID, order_id: uuid.UUID, key: str, request_hash: str,
                          request: RepaymentRequest) -> tuple[BnplRepayment, dict, bool]:
    """Reserve, then pay through the payments core. Returns the repayment, its payment's view and
    whether it was created now. A retry with the same key after a crash makes the same payment."""
    repayment, subject, customer_id, created = await ctx.db.run(_reserve_once, ctx, merchant_id, order_id, key, request_hash,
                                                                request.amount_minor)
    new = NewPayment(
        amount=Money(repayment.amount_minor, repayment.currency), scenario=request.scenario, subject=subject,
        customer_id=customer_id, preferred_channel=request.preferred_channel, return_url=request.return_url,
        payer=dict(request.payer), metadata={"bnpl_repayment_id": str(repayment.id), "bnpl_order_id": str(order_id)},
        purpose=PURPOSE_NAME,
    )
    payment, _ = await create_payment(ctx, merchant_id, payment_key(repayment.id), repayment.id.hex, new)
    repayment = await ctx.db.run(_link, ctx, repayment.id, payment.id)
    return repayment, payment_view(payment), created


def _reserve_once(ctx: PaymentsContext, merchant_id, order_id, key, request_hash, amount_minor):
    try:
        with ctx.db.session() as session, session.begin():
            repayment, created = reserve(session, merchant_id, order_id, key, request_hash, amount_minor)
            order = session.get(BnplOrder, repayment.order_id)
            return repayment, f"Repayment: {order.subject}"[:128], order.customer_id, created
    except IntegrityError:  # a concurrent twin with the same key committed first
        with ctx.db.reader() as session:
            repayment = _replay(session, merchant_id, key, request_hash)
            order = session.get(BnplOrder, repayment.order_id)
            return repayment, f"Repayment: {order.subject}"[:128], order.customer_id, False


def reserve(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID, key: str, request_hash: str,
            amount_minor: int | None) -> tuple[BnplRepayment, bool]:
    existing = session.scalar(select(BnplRepayment).where(BnplRepayment.merchant_id == merchant_id,
                                                          BnplRepayment.idempotency_key == key))
    if existing is not None:
        return _replay(session, merchant_id, key, request_hash), False
    _, order = locked_order(session, merchant_id, order_id)
    if order.status != "captured":
        raise BnplError(409, "bnpl_order_not_repayable", f"a BNPL order that is {order.status} takes no repayment")
    repayable = owed_minor(order) - order.reserved_minor
    amount = repayable if amount_minor is None else amount_minor
    if not 0 < amount <= repayable:
        raise BnplError(422, "repayment_exceeds_owed", f"repayment {amount} is not within 1–{repayable} (owed, less repayments in flight)",
                        repayable_minor=repayable)
    repayment = BnplRepayment(id=uuid.uuid4(), merchant_id=merchant_id, order_id=order.id, idempotency_key=key,
                              request_hash=request_hash, amount_minor=amount, currency=order.currency, status="pending",
                              created_at=utcnow())
    session.add(repayment)
    order.reserved_minor += amount
    session.flush()
    return repayment, True


def _replay(session: Session, merchant_id: uuid.UUID, key: str, request_hash: str) -> BnplRepayment:
    existing = session.scalar(select(BnplRepayment).where(BnplRepayment.merchant_id == merchant_id,
                                                          BnplRepayment.idempotency_key == key))
    if existing.request_hash != request_hash:
        raise BnplError(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
    return existing


def _link(ctx: PaymentsContext, repayment_id: uuid.UUID, payment_id: uuid.UUID) -> BnplRepayment:
    with ctx.db.session() as session, session.begin():
        repayment = session.get(BnplRepayment, repayment_id, with_for_update=True)
        repayment.payment_id = repayment.payment_id or payment_id
        return repayment


def apply_repayment(session: Session, payment: Payment) -> None:
    """In the commit that books the payment: the reservation becomes a repayment of the installments."""
    found = session.get(BnplRepayment, uuid.UUID(payment.meta["bnpl_repayment_id"]))
    line, order = locked_order(session, found.merchant_id, found.order_id)
    repayment = session.get(BnplRepayment, found.id, with_for_update=True, populate_existing=True)
    assert repayment.status == "pending", f"repayment {repayment.id} is {repayment.status}, its payment just succeeded"
    assert repayment.amount_minor == payment.amount_minor <= order.reserved_minor
    now = payment.paid_at or utcnow()
    rows = installments_of(session, order)
    shares = schedule.allocate([part_of(r) for r in rows], repayment.amount_minor)
    for row in rows:
        row.paid_minor += shares.get(row.seq, 0)
        if shares.get(row.seq) and row.paid_minor == row.principal_minor + row.late_fee_minor:
            row.paid_at = now
    repayment.status, repayment.payment_id, repayment.settled_at = "succeeded", payment.id, now
    order.reserved_minor -= repayment.amount_minor
    order.repaid_minor += repayment.amount_minor
    _reduce_owed(line, order, repayment.amount_minor)
    if order.status == "captured" and owed_minor(order) == 0:
        order.status, order.closed_at, order.review_at = "repaid", now, None
        enqueue_event(session, order.merchant_id, "bnpl.order.repaid", order_view(order, rows))
    elif order.status == "captured":
        order.review_at = schedule.review_at([part_of(r) for r in rows], now)
    enqueue_event(session, order.merchant_id, "bnpl.repayment.succeeded", repayment_view(repayment))


def _reduce_owed(line: BnplLine, order: BnplOrder, amount_minor: int) -> None:
    # A defaulted order's line no longer counts it (written off); only what was still counted comes off.
    if order.status == "captured":
        line.owed_minor -= amount_minor
    assert line.owed_minor >= 0 and owed_minor(order) >= 0


def part_of(row) -> schedule.Part:
    return schedule.Part(row.seq, row.due_at, row.principal_minor, row.late_fee_minor, row.paid_minor, tuple(row.reminders or ()))
