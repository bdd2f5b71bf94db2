"""Receipts and invoices: the merchant's recent receipts (each with the payer's link) and
invoices (blue and red-letter, with their PDF and XML), and issuing an invoice for a payment."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from juhe.audit import trail
from juhe.config import get_settings
from juhe.console.users import ConsoleUserView
from juhe.console.web import Forbidden, acting, audit_record, database, permitted, render
from juhe.einvoice import documents, service
from juhe.einvoice.models import Invoice
from juhe.einvoice.wiring import app_platform
from juhe.receipts import service as receipts
from juhe.receipts.views import links

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("invoices.view"))]
Issuer = Annotated[ConsoleUserView, Depends(acting("invoices.issue"))]
ROWS = 100


@router.get("/invoices")
def invoices_page(request: Request, user: Viewer):
    with database(request).reader() as session:
        found_receipts = receipts.of_merchant(session, user.merchant_id, limit=ROWS)
        found_invoices = service.of_merchant(session, user.merchant_id, limit=ROWS)
        numbers = {i.id: i.number for i in found_invoices}
    base = get_settings().public_base_url
    return render(request, "invoices.html", user, receipts=[(r, links(base, r.token)["page"]) for r in found_receipts],
                  invoices=found_invoices, numbers=numbers, error=request.query_params.get("error"),
                  issued=request.query_params.get("issued"))


@router.post("/invoices/issue")
def issue(request: Request, user: Issuer, payment_id: Annotated[str, Form(max_length=40)],
          buyer_name: Annotated[str, Form(min_length=1, max_length=200)], buyer_tax_id: Annotated[str, Form(max_length=18)] = ""):
    db = database(request)
    try:
        invoice = service.issue_for_payment(db, app_platform(request.app.state, get_settings().channel_mode), user.merchant_id,
                                            _uuid(payment_id), service.Buyer(buyer_name, buyer_tax_id or None), f"console:{user.login}")
    except service.InvoiceError as refusal:
        return RedirectResponse(request.url_for("invoices_page").include_query_params(error=str(refusal)), status_code=303)
    trail.record_now(db, audit_record(request, user, "invoice.issue", "invoice", invoice.id))
    return RedirectResponse(request.url_for("invoices_page").include_query_params(issued=invoice.number), status_code=303)


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise service.InvoiceError("payment_not_found", f"{text!r} is not a payment id", 404) from None


def _invoice(request: Request, user: ConsoleUserView, invoice_id: uuid.UUID) -> tuple[Invoice, str | None]:
    with database(request).reader() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None or invoice.status != "issued" or (user.merchant_id is not None and invoice.merchant_id != user.merchant_id):
            raise Forbidden()  # another merchant's invoice: nothing to say about it
        return invoice, session.get(Invoice, invoice.original_id).number if invoice.original_id else None


@router.get("/invoices/{invoice_id}.pdf")
def invoice_pdf(invoice_id: uuid.UUID, request: Request, user: Viewer):
    return Response(documents.invoice_pdf(*_invoice(request, user, invoice_id)), media_type="application/pdf")


@router.get("/invoices/{invoice_id}.xml")
def invoice_xml(invoice_id: uuid.UUID, request: Request, user: Viewer):
    return Response(documents.invoice_xml(*_invoice(request, user, invoice_id)), media_type="application/xml")
