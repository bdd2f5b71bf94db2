"""The worker's part of invoicing, after each round of receipts: a blue invoice for every
payment of a merchant that issues automatically (to the buyer the payment's metadata names,
else to an individual, 个人), and a red-letter invoice for every refund of an invoiced payment
booked after its invoice. Receipts are read in order from a cursor; a tax platform that does
not answer stops the round there, and the next round starts again from the same receipt."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, exists, or_, select

from juhe.db.types import utcnow
from juhe.einvoice import service
from juhe.einvoice.models import Invoice, InvoiceSettings
from juhe.payments.models import Payment, Refund
from juhe.receipts.models import Receipt
from juhe.trace.models import TraceCursor

AUTO_BATCH = 200  # invoices per round: each is a call to the tax platform
SCAN_MAX = 10_000  # receipts looked at per round (most call for no invoice)
CURSOR = "einvoice.receipts"
SETTLED = {"invoice_already_issued", "nothing_to_invoice", "red_letter_exceeds_original", "tax_platform_refused",
           "invoice_not_redeemable", "invalid_credit_code", "invalid_buyer", "invoice_currency_unsupported"}


def issue_due(db, platform) -> int:
    """Invoices issued this round; `platform()` gives the tax platform, asked for only when needed."""
    with db.reader() as session:
        cursor = session.get(TraceCursor, CURSOR)
        window = _window(session, uuid.UUID(cursor.position) if cursor else None)
        if window is None:
            return 0
        receipts = list(session.scalars(_candidates(*window).limit(AUTO_BATCH)))
    issued, done = 0, None
    for receipt in receipts:
        try:
            issued += _invoice(db, platform, receipt)
        except service.InvoiceError as e:
            if e.code not in SETTLED:  # the platform is away: this receipt again next round
                break
        done = receipt.id
    else:
        if len(receipts) < AUTO_BATCH:  # every receipt of the window was looked at
            done = window[1]
    if done is not None:
        _advance(db, str(done))
    return issued


def _window(session, after: uuid.UUID | None) -> tuple[uuid.UUID | None, uuid.UUID] | None:
    """(after, last): the next SCAN_MAX receipts, most of which ask for nothing."""
    query = select(Receipt.id).order_by(Receipt.id)
    if after is not None:
        query = query.where(Receipt.id > after)
    # The newest by ORDER BY, not max(): PostgreSQL has no max() of a uuid.
    last = session.scalar(query.offset(SCAN_MAX - 1).limit(1)) or session.scalar(
        query.order_by(None).order_by(Receipt.id.desc()).limit(1))
    return (after, last) if last is not None else None


def _candidates(after: uuid.UUID | None, last: uuid.UUID):
    """Receipts of the window that call for an invoice: a payment of a merchant that invoices
    automatically, or a refund of a payment with an issued blue invoice."""
    auto = exists().where(InvoiceSettings.merchant_id == Receipt.merchant_id, InvoiceSettings.auto_issue.is_(True))
    invoiced = exists().where(Invoice.payment_id == Receipt.payment_id, Invoice.kind == "blue", Invoice.status == "issued")
    query = select(Receipt).where(Receipt.id <= last, or_(and_(Receipt.kind == "payment", auto),
                                                          and_(Receipt.kind == "refund", invoiced))).order_by(Receipt.id)
    return query.where(Receipt.id > after) if after is not None else query


def _invoice(db, platform, receipt: Receipt) -> int:
    with db.reader() as session:
        payment = session.get(Payment, receipt.payment_id)
        if receipt.kind == "payment":
            settings = session.get(InvoiceSettings, receipt.merchant_id)
            wanted = settings is not None and settings.auto_issue
            refund = blue = None
        else:
            refund = session.get(Refund, receipt.object_id)
            blue = session.scalar(service.blue_of_payment(payment.id))
            wanted = blue is not None and refund.created_at > blue.created_at
    if not wanted:
        return 0
    if refund is None:
        platform = platform()
        meta = payment.meta or {}
        buyer = service.Buyer(meta.get("invoice_buyer_name") or service.INDIVIDUAL, meta.get("invoice_buyer_tax_id"))
        service.issue_for_payment(db, platform, payment.merchant_id, payment.id, buyer, "auto")
    else:
        service.issue_red_letter(db, platform(), payment.merchant_id, blue.id, refund.amount_minor, "auto", refund_id=refund.id)
    return 1


def _advance(db, position: str) -> None:
    with db.session() as session, session.begin():
        cursor = session.get(TraceCursor, CURSOR, with_for_update=True)
        if cursor is None:
            session.add(TraceCursor(source=CURSOR, position=position, updated_at=utcnow()))
        else:
            cursor.position, cursor.updated_at = position, utcnow()
