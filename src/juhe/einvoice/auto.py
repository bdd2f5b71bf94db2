"""The worker's part of invoicing, after each round of receipts: a blue invoice for every
payment of a merchant that issues automatically (to the buyer the payment's metadata names,
else to an individual, 个人), and a red-letter invoice for every refund of an invoiced payment
booked after its invoice. Receipts are read in order from a cursor; a tax platform that does
not answer stops the round there, and the next round starts again from the same receipt."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from juhe.db.types import utcnow
from juhe.einvoice import service
from juhe.einvoice.models import InvoiceSettings
from juhe.payments.models import Payment, Refund
from juhe.receipts.models import Receipt
from juhe.trace.models import TraceCursor

AUTO_BATCH = 200  # receipts per round: each may be a call to the tax platform
CURSOR = "einvoice.receipts"
SETTLED = {"invoice_already_issued", "nothing_to_invoice", "red_letter_exceeds_original", "tax_platform_refused",
           "invoice_not_redeemable", "invalid_credit_code", "invalid_buyer", "invoice_currency_unsupported"}


def issue_due(db, platform) -> int:
    """Invoices issued this round; `platform()` gives the tax platform, asked for only when needed."""
    with db.reader() as session:
        cursor = session.get(TraceCursor, CURSOR)
        query = select(Receipt).order_by(Receipt.id).limit(AUTO_BATCH)
        receipts = list(session.scalars(query.where(Receipt.id > uuid.UUID(cursor.position)) if cursor else query))
    issued, done = 0, None
    for receipt in receipts:
        try:
            issued += _invoice(db, platform, receipt)
        except service.InvoiceError as e:
            if e.code not in SETTLED:  # the platform is away: this receipt again next round
                break
        done = receipt.id
    if done is not None:
        _advance(db, str(done))
    return issued


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
