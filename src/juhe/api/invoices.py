"""E-invoices: the merchant's invoicing settings, issuing for a payment, red-letter invoices,
reading them as JSON, PDF and XML; and the payer's request from the receipt page."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from juhe.api.deps import DatabaseDep, ReadSessionDep, require
from juhe.api.errors import ApiError
from juhe.config import get_settings
from juhe.einvoice import documents, service
from juhe.einvoice.models import Invoice
from juhe.einvoice.views import invoice_view, settings_view
from juhe.einvoice.wiring import app_platform
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.receipts import service as receipts

router = APIRouter(tags=["invoices"])
Issuer = Annotated[Principal, Depends(require("business", "finance"))]
Finance = Annotated[Principal, Depends(require("finance"))]
Reader = Annotated[Principal, Depends(require("business", "finance", "risk"))]


class BuyerIn(BaseModel):
    buyer_name: str = Field(min_length=1, max_length=200, description="抬头: a company's name, or an individual's")
    buyer_tax_id: str | None = Field(None, max_length=18, description="the company's unified social credit code; none for an individual")


class RedLetterIn(BaseModel):
    amount_minor: int = Field(gt=0, le=AMOUNT_MAX, description="what to take back, tax included, in fen")
    refund_id: uuid.UUID | None = None


class SettingsIn(BaseModel):
    seller_name: str = Field(min_length=1, max_length=200)
    seller_tax_id: str = Field(min_length=1, max_length=18)
    item_name: str = Field(min_length=1, max_length=100, description="e.g. *日用杂品*日用百货")
    tax_category_code: str = Field(min_length=1, max_length=19, description="税收分类编码, 19 digits")
    tax_rate_bps: int = Field(ge=0, le=10_000)
    auto_issue: bool = False


def platform_of(request: Request):
    return app_platform(request.app.state, get_settings().channel_mode)


def _call(fn, *args):
    try:
        return fn(*args)
    except service.InvoiceError as e:
        raise ApiError(e.status, e.code, str(e)) from None


def _own(session, merchant_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.merchant_id != merchant_id or invoice.status != "issued":
        raise ApiError(404, "invoice_not_found", f"no invoice {invoice_id}")
    return invoice


def _original_number(session, invoice: Invoice) -> str | None:
    return session.get(Invoice, invoice.original_id).number if invoice.original_id else None


@router.get("/v1/invoice-settings")
def get_settings_(principal: Finance, session: ReadSessionDep) -> dict:
    found = service.settings_of(session, principal.merchant_id)
    if found is None:
        raise ApiError(404, "invoicing_not_configured", "the merchant has not set up invoicing")
    return settings_view(found)


@router.put("/v1/invoice-settings")
def put_settings(principal: Finance, body: SettingsIn, db: DatabaseDep) -> dict:
    with db.session() as session, session.begin():
        return settings_view(_call(lambda: service.save_settings(session, principal.merchant_id, **body.model_dump())))


@router.post("/v1/payments/{payment_id}/invoice", status_code=201)
def issue_for_payment(principal: Issuer, payment_id: uuid.UUID, body: BuyerIn, request: Request, db: DatabaseDep) -> dict:
    buyer = service.Buyer(body.buyer_name, body.buyer_tax_id)
    invoice = _call(service.issue_for_payment, db, platform_of(request), principal.merchant_id, payment_id, buyer,
                    f"api_key:{principal.key_id}")
    return invoice_view(invoice)


@router.post("/v1/invoices/{invoice_id}/red-letter", status_code=201)
def red_letter(principal: Finance, invoice_id: uuid.UUID, body: RedLetterIn, request: Request, db: DatabaseDep) -> dict:
    invoice = _call(service.issue_red_letter, db, platform_of(request), principal.merchant_id, invoice_id, body.amount_minor,
                    f"api_key:{principal.key_id}", body.refund_id)
    return invoice_view(invoice)


@router.get("/v1/invoices")
def list_invoices(principal: Reader, session: ReadSessionDep, payment_id: uuid.UUID | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    return {"data": [invoice_view(i) for i in service.of_merchant(session, principal.merchant_id, limit=limit, payment_id=payment_id)]}


@router.get("/v1/invoices/{invoice_id}.pdf")
def invoice_pdf(principal: Reader, invoice_id: uuid.UUID, session: ReadSessionDep) -> Response:
    invoice = _own(session, principal.merchant_id, invoice_id)
    return _pdf(invoice, _original_number(session, invoice))


@router.get("/v1/invoices/{invoice_id}.xml")
def invoice_xml(principal: Reader, invoice_id: uuid.UUID, session: ReadSessionDep) -> Response:
    invoice = _own(session, principal.merchant_id, invoice_id)
    return Response(documents.invoice_xml(invoice, _original_number(session, invoice)), media_type="application/xml")


@router.get("/v1/invoices/{invoice_id}")
def get_invoice(principal: Reader, invoice_id: uuid.UUID, session: ReadSessionDep) -> dict:
    return invoice_view(_own(session, principal.merchant_id, invoice_id))


def _pdf(invoice: Invoice, original_number: str | None) -> Response:
    return Response(documents.invoice_pdf(invoice, original_number), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="invoice-{invoice.number}.pdf"'})


# -- the payer, from the receipt page ------------------------------------------------------------

def receipt_invoice_state(db, receipt, error: str | None) -> dict | None:
    """What the receipt page shows about invoicing: the issued invoice, the request form, or nothing."""
    if receipt.kind != "payment":
        return None
    with db.reader() as session:
        issued = session.scalar(service.blue_of_payment(receipt.payment_id))
        offered = service.settings_of(session, receipt.merchant_id) is not None
    if issued is not None:
        return {"number": issued.number, "buyer_name": issued.buyer_name}
    return {"number": None, "offered": offered, "error": error} if offered else None


@router.post("/receipts/{token}/invoice", include_in_schema=False)
def payer_requests_invoice(token: str, request: Request, db: DatabaseDep, buyer_name: Annotated[str, Form(max_length=200)],
                           buyer_type: Annotated[str, Form()] = "individual",
                           buyer_tax_id: Annotated[str, Form(max_length=18)] = "") -> RedirectResponse:
    with db.reader() as session:
        receipt = receipts.by_token(session, token)
    if receipt is None or receipt.kind != "payment":
        raise ApiError(404, "receipt_not_found", "no such receipt (the link may be mistyped)")
    buyer = service.Buyer(buyer_name, buyer_tax_id if buyer_type == "company" else None)
    if buyer_type == "company" and not buyer_tax_id.strip():
        return RedirectResponse(f"/receipts/{token}?error=a+company+invoice+needs+its+taxpayer+id", status_code=303)
    try:
        service.issue_for_payment(db, platform_of(request), receipt.merchant_id, receipt.payment_id, buyer, "payer")
    except service.InvoiceError as e:
        from urllib.parse import quote

        return RedirectResponse(f"/receipts/{token}?error={quote(str(e))}", status_code=303)
    return RedirectResponse(f"/receipts/{token}", status_code=303)


def _payer_invoice(db, token: str) -> tuple[Invoice, str | None]:
    with db.reader() as session:
        receipt = receipts.by_token(session, token)
        invoice = session.scalar(service.blue_of_payment(receipt.payment_id)) if receipt else None
        if invoice is None:
            raise ApiError(404, "invoice_not_found", "no invoice was issued for this receipt")
        return invoice, None


@router.get("/receipts/{token}/invoice.pdf", include_in_schema=False)
def payer_invoice_pdf(token: str, db: DatabaseDep) -> Response:
    return _pdf(*_payer_invoice(db, token))


@router.get("/receipts/{token}/invoice.xml", include_in_schema=False)
def payer_invoice_xml(token: str, db: DatabaseDep) -> Response:
    return Response(documents.invoice_xml(*_payer_invoice(db, token)), media_type="application/xml")
