"""B2B sales orders and their three flows. Each step is a record in the Merkle log that names
the records before it by leaf index: the order (`order`/`created`: buyer, lines, total), its
invoice (`invoice`, with `order_leaf`), and the settlement (`order`/`paid`: the order's, the
invoice's and the payment's leaves, the payment's status record being logged by ingestion).
`juhe.orders.reconcile` then checks the chain from the log's records alone."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.db.models import new_id
from juhe.db.types import utcnow
from juhe.einvoice import service as invoicing
from juhe.einvoice import tax
from juhe.einvoice.models import Invoice
from juhe.orders.models import B2bOrder
from juhe.payments.models import Payment
from juhe.scf.models import ScfFinancing, ScfReceivable
from juhe.trace import log
from juhe.trace.models import TraceEntry

LINES_MAX = 100


class OrderError(invoicing.InvoiceError):
    pass


def _leaf(session: Session, source: str, key: str) -> int:
    return session.scalar(select(TraceEntry.leaf_index).where(TraceEntry.source == source, TraceEntry.source_key == key))


def _append(session: Session, order: B2bOrder, event: str, facts: dict, key: str) -> int:
    log.append(session, [log.Event(kind="order", object_id=str(order.id), event=event, at=utcnow(), merchant_id=order.merchant_id,
                                   facts=facts, source="b2b_orders", source_key=key)])
    return _leaf(session, "b2b_orders", key)


def create_order(session: Session, merchant_id: uuid.UUID, order_no: str, buyer: invoicing.Buyer, lines: list[dict]) -> B2bOrder:
    """`lines`: name, tax_category_code, tax_rate_bps, total_minor (tax included), in CNY."""
    buyer = invoicing.check_buyer(buyer)
    if buyer.tax_id is None:
        raise OrderError("invalid_credit_code", "a B2B buyer is a company: give its unified social credit code")
    if not 1 <= len(lines) <= LINES_MAX or any(x["total_minor"] <= 0 for x in lines):
        raise OrderError("invalid_order_lines", f"an order has 1 to {LINES_MAX} lines, each of a positive amount")
    for x in lines:
        if problem := tax.line_problem(x["tax_category_code"], x["tax_rate_bps"]):
            raise OrderError("invalid_tax_line", problem)
    priced = [tax.line(x["name"], x["tax_category_code"], x["tax_rate_bps"], x["total_minor"]).to_json() for x in lines]
    order = B2bOrder(id=new_id(), merchant_id=merchant_id, order_no=order_no, buyer_name=buyer.name, buyer_tax_id=buyer.tax_id,
                     lines=priced, total_minor=sum(x["total_minor"] for x in lines), currency=invoicing.CURRENCY, status="open",
                     leaf_index=-1)  # set below, once its record is a leaf
    try:
        with session.begin_nested():
            session.add(order)
    except IntegrityError:
        raise OrderError("order_exists", f"order {order_no} exists already", 409) from None
    order.leaf_index = _append(session, order, "created", {
        "order_no": order.order_no, "buyer_name": order.buyer_name, "buyer_tax_id": order.buyer_tax_id,
        "lines": order.lines, "total_minor": order.total_minor, "currency": order.currency}, f"{order.id}:created")
    return order


def _own(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID, *, lock: bool = False) -> B2bOrder:
    order = session.get(B2bOrder, order_id, with_for_update=lock)
    if order is None or order.merchant_id != merchant_id:
        raise OrderError("order_not_found", f"no order {order_id}", 404)
    return order


def invoice_order(db, platform, merchant_id: uuid.UUID, order_id: uuid.UUID, requested_by: str) -> Invoice:
    with db.session() as session, session.begin():
        order = _own(session, merchant_id, order_id, lock=True)
        settings = invoicing.settings_of(session, merchant_id)
        if settings is None:
            raise OrderError("invoicing_not_configured", "the merchant has not set up invoicing (PUT /v1/invoice-settings)", 409)
        invoice_id = invoicing.request_for_order(session, order, settings, requested_by)
        order_leaf = order.leaf_index
    invoice = invoicing.complete(db, platform, invoice_id, {"order_leaf": order_leaf})
    with db.session() as session, session.begin():
        order = _own(session, merchant_id, order_id, lock=True)
        order.invoice_id = invoice.id
        order.status = "invoiced" if order.payment_id is None else order.status
    return invoice


def _financed(session: Session, order_id: uuid.UUID) -> bool:
    return session.scalar(select(ScfFinancing.id).join(ScfReceivable, ScfReceivable.id == ScfFinancing.receivable_id)
                          .where(ScfReceivable.order_id == order_id)) is not None


def settle_order(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID, payment_id: uuid.UUID) -> B2bOrder:
    """Links the payment that paid the order. Its amount is what the payment says: a payment that
    does not match is linked all the same and found by the reconciliation, as it happened."""
    order = _own(session, merchant_id, order_id, lock=True)
    if order.payment_id is not None:
        raise OrderError("order_already_paid", f"order {order.order_no} was paid by payment {order.payment_id}", 409)
    if order.invoice_id is None:
        raise OrderError("order_not_invoiced", "invoice the order first (POST /v1/orders/{id}/invoice)", 409)
    if _financed(session, order.id):  # the buyer pays it through its financing: a second payment would pay it twice
        raise OrderError("order_financed", f"order {order.order_no} is financed (/v1/scf): it is paid through its financing", 409)
    payment = session.get(Payment, payment_id)
    if payment is None or payment.merchant_id != merchant_id:
        raise OrderError("payment_not_found", f"no payment {payment_id}", 404)
    if payment.status != "succeeded":
        raise OrderError("payment_not_succeeded", f"a payment that is {payment.status} does not pay an order", 409)
    payment_leaf = session.scalar(select(TraceEntry.leaf_index).where(
        TraceEntry.kind == "payment", TraceEntry.object_id == str(payment_id), TraceEntry.event == "succeeded"))
    if payment_leaf is None:
        raise OrderError("payment_not_logged_yet", "the payment's success is not in the log yet (the worker adds it within seconds)", 409)
    invoice = session.get(Invoice, order.invoice_id)
    order.payment_id, order.status = payment_id, "paid"
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise OrderError("payment_already_linked", f"payment {payment_id} paid another order", 409) from None
    _append(session, order, "paid", {"order_leaf": order.leaf_index, "invoice_id": str(invoice.id), "invoice_leaf": invoice.leaf_index,
                                     "payment_id": str(payment_id), "payment_leaf": payment_leaf}, f"{order.id}:paid")
    return order


def get_order(session: Session, merchant_id: uuid.UUID, order_id: uuid.UUID) -> B2bOrder:
    return _own(session, merchant_id, order_id)
