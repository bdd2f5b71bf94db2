"""Issuing invoices: checked first (nothing is written for a bad request), recorded as
`issuing` under a serial, sent to the tax platform, then stored as issued together with its
record in the Merkle log, in one transaction.

A blue invoice is for a succeeded payment (what is left of it after refunds) or a B2B order;
`blue_for` is unique, so two requests cannot both issue one. A red-letter (红字) invoice takes
back part or all of a blue one, never more than is left of it. A platform that cannot be
reached leaves the invoice `issuing`: asking again resends the same serial, which the platform
answers with the invoice it issued for it, if any."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.db.models import new_id
from juhe.einvoice import credit_code, tax
from juhe.einvoice.models import Invoice, InvoiceSettings
from juhe.einvoice.platform import Issue, PlatformError
from juhe.money import Money
from juhe.payments.models import Payment
from juhe.trace import log
from juhe.trace.models import TraceEntry

INDIVIDUAL = "个人"
CURRENCY = "CNY"  # the tax platform invoices in renminbi only


class InvoiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str
    tax_id: str | None = None  # None: an individual (natural person), who has none on an invoice


def check_buyer(buyer: Buyer) -> Buyer:
    name = buyer.name.strip()
    if not name:
        raise InvoiceError("invalid_buyer", "the buyer's name (抬头) is empty")
    tax_id = (buyer.tax_id or "").strip().upper() or None
    if tax_id is not None and (problem := credit_code.problem(tax_id)):
        raise InvoiceError("invalid_credit_code", f"{tax_id}: {problem}")
    return Buyer(name, tax_id)


# -- settings ----------------------------------------------------------------------------------

def settings_of(session: Session, merchant_id: uuid.UUID) -> InvoiceSettings | None:
    return session.get(InvoiceSettings, merchant_id)


def save_settings(session: Session, merchant_id: uuid.UUID, *, seller_name: str, seller_tax_id: str, item_name: str,
                  tax_category_code: str, tax_rate_bps: int, auto_issue: bool) -> InvoiceSettings:
    if problem := credit_code.problem(seller_tax_id):
        raise InvoiceError("invalid_credit_code", f"{seller_tax_id}: {problem}")
    if problem := tax.line_problem(tax_category_code, tax_rate_bps):
        raise InvoiceError("invalid_tax_line", problem)
    row = session.get(InvoiceSettings, merchant_id, with_for_update=True) or InvoiceSettings(merchant_id=merchant_id)
    row.seller_name, row.seller_tax_id, row.item_name = seller_name, seller_tax_id, item_name
    row.tax_category_code, row.tax_rate_bps, row.auto_issue = tax_category_code, tax_rate_bps, auto_issue
    session.add(row)
    session.flush()
    return row


# -- requesting --------------------------------------------------------------------------------

def _configured(session: Session, merchant_id: uuid.UUID) -> InvoiceSettings:
    found = settings_of(session, merchant_id)
    if found is None:
        raise InvoiceError("invoicing_not_configured", "the merchant has not set up invoicing (PUT /v1/invoice-settings)", 409)
    return found


def _blue_existing(session: Session, blue_for: str) -> Invoice | None:
    existing = session.scalar(select(Invoice).where(Invoice.blue_for == blue_for))
    if existing is not None and existing.status == "issued":
        raise InvoiceError("invoice_already_issued", f"invoice {existing.number} was issued for this already", 409)
    return existing


def request_for_payment(db, merchant_id: uuid.UUID, payment_id: uuid.UUID, buyer: Buyer, requested_by: str) -> uuid.UUID:
    buyer = check_buyer(buyer)
    with db.session() as session, session.begin():
        # Locked as a refund locks it: a refund booked before this reads is left out of the invoice,
        # one booked after is taken back by a red-letter invoice (einvoice.auto).
        payment = session.get(Payment, payment_id, with_for_update=True)
        if payment is None or payment.merchant_id != merchant_id:
            raise InvoiceError("payment_not_found", f"no payment {payment_id}", 404)
        if payment.status != "succeeded":
            raise InvoiceError("payment_not_succeeded", f"a payment that is {payment.status} cannot be invoiced", 409)
        if payment.currency != CURRENCY:
            raise InvoiceError("invoice_currency_unsupported", f"invoices are in {CURRENCY}, the payment is in {payment.currency}")
        existing = _blue_existing(session, f"payment:{payment_id}")
        if existing is not None:  # issuing: the platform did not answer last time; send it again
            return existing.id
        left = payment.amount_minor - payment.refunded_minor
        if left <= 0:
            raise InvoiceError("nothing_to_invoice", "the payment was refunded in full", 409)
        settings = _configured(session, merchant_id)
        lines = [tax.line(settings.item_name, settings.tax_category_code, settings.tax_rate_bps, left)]
        invoice = _new(merchant_id, "blue", settings.seller_name, settings.seller_tax_id, buyer, lines, requested_by,
                       blue_for=f"payment:{payment_id}", payment_id=payment_id)
        return _insert(session, invoice)


def request_for_order(session: Session, order, settings: InvoiceSettings, requested_by: str) -> uuid.UUID:
    """A B2B order's blue invoice, to the order's buyer, with the order's lines (juhe.orders)."""
    existing = _blue_existing(session, f"order:{order.id}")
    if existing is not None:
        return existing.id
    lines = [tax.Line.from_json(x) for x in order.lines]
    invoice = _new(order.merchant_id, "blue", settings.seller_name, settings.seller_tax_id,
                   Buyer(order.buyer_name, order.buyer_tax_id), lines, requested_by, blue_for=f"order:{order.id}", order_id=order.id)
    return _insert(session, invoice)


def request_red_letter(db, merchant_id: uuid.UUID, original_id: uuid.UUID, amount_minor: int, requested_by: str,
                       refund_id: uuid.UUID | None = None) -> uuid.UUID:
    if amount_minor <= 0:
        raise InvoiceError("invalid_amount", "a red-letter invoice takes back a positive amount")
    with db.session() as session, session.begin():
        original = session.get(Invoice, original_id, with_for_update=True)  # one red-letter at a time per original
        if original is None or original.merchant_id != merchant_id:
            raise InvoiceError("invoice_not_found", f"no invoice {original_id}", 404)
        if original.kind != "blue" or original.status != "issued":
            raise InvoiceError("invoice_not_redeemable", "only an issued blue invoice can be reversed by a red-letter one", 409)
        if refund_id is not None and (done := session.scalar(select(Invoice.id).where(Invoice.refund_id == refund_id))):
            return done
        taken = -(session.scalar(select(func.coalesce(func.sum(Invoice.total_minor), 0)).where(Invoice.original_id == original_id)) or 0)
        if amount_minor > original.total_minor - taken:
            raise InvoiceError("red_letter_exceeds_original",
                               f"{Money(amount_minor, original.currency)} is more than the {Money(original.total_minor - taken, original.currency)} "
                               f"left of invoice {original.number}")
        lines = tax.negated(_share(original, amount_minor))
        red = _new(merchant_id, "red", original.seller_name, original.seller_tax_id, Buyer(original.buyer_name, original.buyer_tax_id),
                   lines, requested_by, payment_id=original.payment_id, order_id=original.order_id, refund_id=refund_id,
                   original_id=original.id)
        return _insert(session, red)


def _share(original: Invoice, amount_minor: int) -> list[tax.Line]:
    """`amount_minor` of the original spread over its lines in proportion, to the fen."""
    lines = [tax.Line.from_json(x) for x in original.lines]
    parts = Money(amount_minor, original.currency).allocate([x.total_minor for x in lines])
    return [tax.line(x.name, x.tax_category_code, x.tax_rate_bps, part.amount_minor) for x, part in zip(lines, parts)
            if part.amount_minor]


def _new(merchant_id, kind, seller_name, seller_tax_id, buyer: Buyer, lines: list[tax.Line], requested_by: str, **links) -> Invoice:
    invoice_id = new_id()
    return Invoice(id=invoice_id, merchant_id=merchant_id, kind=kind, status="issuing", request_no=invoice_id.hex,
                   buyer_name=buyer.name, buyer_tax_id=buyer.tax_id, seller_name=seller_name, seller_tax_id=seller_tax_id,
                   lines=[x.to_json() for x in lines], amount_minor=sum(x.amount_minor for x in lines),
                   tax_minor=sum(x.tax_minor for x in lines), total_minor=sum(x.total_minor for x in lines),
                   currency=CURRENCY, requested_by=requested_by, **links)


def _insert(session: Session, invoice: Invoice) -> uuid.UUID:
    try:
        with session.begin_nested():
            session.add(invoice)
    except IntegrityError:  # another request got there first
        raise InvoiceError("invoice_already_issued", "an invoice is being issued for this already", 409) from None
    return invoice.id


# -- issuing -----------------------------------------------------------------------------------

def complete(db, platform, invoice_id: uuid.UUID, links: dict | None = None) -> Invoice:
    """Sends an `issuing` invoice to the tax platform and stores the answer with its log record.
    Refused: the invoice is dropped (nothing was issued) and InvoiceError raised; unreachable:
    it stays `issuing` for the next attempt."""
    with db.reader() as session:
        invoice = session.get(Invoice, invoice_id)
        original = session.get(Invoice, invoice.original_id) if invoice.original_id else None
    if invoice.status == "issued":
        return invoice
    if platform is None:
        raise InvoiceError("tax_platform_not_configured", "no tax platform is configured (JUHE_TAX_PLATFORM_URL)", 503)
    try:
        issued = platform.issue(Issue(invoice.request_no, invoice.kind, invoice.seller_name, invoice.seller_tax_id,
                                      invoice.buyer_name, invoice.buyer_tax_id, [tax.Line.from_json(x) for x in invoice.lines],
                                      original.number if original else None))
    except PlatformError as e:
        if e.refused:
            with db.session() as session, session.begin():
                session.delete(session.get(Invoice, invoice_id))
        raise InvoiceError(e.code, str(e), 422 if e.refused else 503) from None
    with db.session() as session, session.begin():
        stored = session.get(Invoice, invoice_id, with_for_update=True)
        if stored.status != "issued":
            stored.status, stored.number, stored.issued_at = "issued", issued.number, issued.issued_at
            stored.leaf_index = _log(session, stored, original, links or {})
        return stored


def record_facts(invoice: Invoice, original: Invoice | None, links: dict) -> dict:
    return {"number": invoice.number, "invoice_kind": invoice.kind, "issued_at": invoice.issued_at.isoformat(),
            "seller_name": invoice.seller_name, "seller_tax_id": invoice.seller_tax_id, "buyer_name": invoice.buyer_name,
            "buyer_tax_id": invoice.buyer_tax_id, "lines": invoice.lines, "amount_minor": invoice.amount_minor,
            "tax_minor": invoice.tax_minor, "total_minor": invoice.total_minor, "currency": invoice.currency,
            "payment_id": str(invoice.payment_id) if invoice.payment_id else None,
            "order_id": str(invoice.order_id) if invoice.order_id else None,
            "refund_id": str(invoice.refund_id) if invoice.refund_id else None,
            "original_number": original.number if original else None, **links}


def _log(session: Session, invoice: Invoice, original: Invoice | None, links: dict) -> int:
    log.append(session, [log.Event(kind="invoice", object_id=str(invoice.id), event=invoice.kind, at=invoice.issued_at,
                                   merchant_id=invoice.merchant_id, facts=record_facts(invoice, original, links),
                                   source="invoices", source_key=str(invoice.id))])
    return session.scalar(select(TraceEntry.leaf_index).where(TraceEntry.source == "invoices",
                                                              TraceEntry.source_key == str(invoice.id)))


def issue_for_payment(db, platform, merchant_id, payment_id, buyer: Buyer, requested_by: str) -> Invoice:
    return complete(db, platform, request_for_payment(db, merchant_id, payment_id, buyer, requested_by))


def issue_red_letter(db, platform, merchant_id, original_id, amount_minor: int, requested_by: str, refund_id=None) -> Invoice:
    return complete(db, platform, request_red_letter(db, merchant_id, original_id, amount_minor, requested_by, refund_id))


def blue_of_payment(payment_id: uuid.UUID):
    return select(Invoice).where(Invoice.blue_for == f"payment:{payment_id}", Invoice.status == "issued")


def of_merchant(session: Session, merchant_id: uuid.UUID | None, *, limit: int = 50, payment_id=None) -> list[Invoice]:
    query = select(Invoice).where(Invoice.status == "issued").order_by(Invoice.id.desc()).limit(limit)
    if merchant_id is not None:
        query = query.where(Invoice.merchant_id == merchant_id)
    if payment_id is not None:
        query = query.where(Invoice.payment_id == payment_id)
    return list(session.scalars(query))
