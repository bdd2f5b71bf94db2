"""Payments: search and filter, a payment's page with its whole story, and the refund button."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import or_, select

from juhe.console.payment_detail import find_payment, payment_detail
from juhe.console.users import ConsoleUserView
from juhe.audit import trail
from juhe.console.web import Forbidden, acting, audit_record, database, permitted, render
from juhe.db.pages import keyset, split
from juhe.money import Money, MoneyError
from juhe.payments.models import Payment
from juhe.payments.refunds import create_refund
from juhe.payments.service import PaymentError

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("payments.view"))]
Refunder = Annotated[ConsoleUserView, Depends(acting("payments.refund"))]
PAGE_ROWS = 50
STATUSES = ("requires_payment_method", "requires_action", "processing", "succeeded", "failed", "canceled")


@router.get("/payments")
def list_payments(request: Request, user: Viewer, status: str = "", channel: str = "", q: Annotated[str, Query(max_length=128)] = "",
                  cursor: uuid.UUID | None = None):
    query = select(Payment)
    if user.merchant_id is not None:
        query = query.where(Payment.merchant_id == user.merchant_id)
    if status:
        query = query.where(Payment.status == status)
    if channel:
        query = query.where(Payment.channel == channel)
    if q:
        query = query.where(or_(Payment.subject.contains(q, autoescape=True), Payment.customer_id == q,
                                Payment.channel_order_no == q, *_id_match(q)))
    with database(request).reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, Payment.id, limit=PAGE_ROWS, cursor=cursor)).all(), PAGE_ROWS)
    return render(request, "payments.html", user, payments=rows, next_cursor=next_cursor, statuses=STATUSES,
                  filters={"status": status, "channel": channel, "q": q})


def _id_match(q: str) -> list:
    try:
        return [Payment.id == uuid.UUID(q)]
    except ValueError:
        return []


@router.get("/payments/{payment_id}")
def show_payment(payment_id: uuid.UUID, request: Request, user: Viewer, error: str = "", refunded: str = ""):
    with database(request).reader() as session:
        payment = find_payment(session, payment_id, user.merchant_id)
        if payment is None:
            return render(request, "not_found.html", user, 404)
        detail = payment_detail(session, payment)
    return render(request, "payment.html", user, d=detail, p=detail.payment, error=error, refunded=refunded,
                  refundable_minor=payment.amount_minor - payment.refunded_minor if payment.status == "succeeded" else 0,
                  refund_key=uuid.uuid4().hex)


@router.post("/payments/{payment_id}/refund")
async def refund(payment_id: uuid.UUID, request: Request, user: Refunder,
                 idempotency_key: Annotated[str, Form(min_length=8, max_length=64)],
                 amount: Annotated[str, Form(max_length=24)] = "", reason: Annotated[str, Form(max_length=200)] = ""):
    """Full (amount left empty) or partial; the form's key makes a double click one refund."""
    db = database(request)
    payment = await db.run(_payment_of, db, payment_id, user.merchant_id)
    if payment is None:
        raise Forbidden()  # another merchant's payment: nothing to say about it
    try:
        amount_minor = Money.parse(amount.strip(), payment.currency).amount_minor if amount.strip() else None
        fingerprint = hashlib.sha256(f"{amount_minor}|{reason}".encode()).hexdigest()
        refund, created = await create_refund(request.app.state.payments, payment.merchant_id, payment_id,
                                              f"console:{idempotency_key}", fingerprint, amount_minor, reason)
        if created:  # the refund commits in the payments service; its record follows at once
            await db.run(trail.record_now, db, audit_record(request, user, "refund.create", "refund", refund.id))
    except (PaymentError, MoneyError) as refusal:
        return RedirectResponse(request.url_for("show_payment", payment_id=payment_id).include_query_params(error=str(refusal)),
                                status_code=303)
    return RedirectResponse(request.url_for("show_payment", payment_id=payment_id).include_query_params(refunded="1"), status_code=303)


def _payment_of(db, payment_id: uuid.UUID, scope: uuid.UUID | None) -> Payment | None:
    with db.reader() as session:
        return find_payment(session, payment_id, scope)
