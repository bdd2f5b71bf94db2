"""Receipts: the payer's public pages (no API key: the link's token is the permission) and the
merchant's list with each receipt's link."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from juhe.api.deps import DatabaseDep, ReadSessionDep, require
from juhe.api.errors import ApiError
from juhe.api.invoices import receipt_invoice_state
from juhe.config import get_settings
from juhe.db.types import utcnow
from juhe.merchants import Principal
from juhe.receipts import documents, service
from juhe.receipts.views import links, receipt_view
from juhe.satisfaction import service as satisfaction
from juhe.trace import heads
from juhe.trace.publisher import key_file

router = APIRouter(tags=["receipts"])
Reader = Annotated[Principal, Depends(require("business", "finance", "risk"))]
NOT_FOUND = "no such receipt (the link may be mistyped)"


def log_key():
    return heads.load_or_create_key(key_file(get_settings()))


def _found(db, token: str):
    with db.reader() as session:
        receipt = service.by_token(session, token)
        if receipt is None:
            raise ApiError(404, "receipt_not_found", NOT_FOUND)
        return receipt, service.record(session, receipt)


@router.get("/v1/receipts")
def list_receipts(principal: Reader, session: ReadSessionDep, payment_id: uuid.UUID | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    base = get_settings().public_base_url
    rows = service.of_merchant(session, principal.merchant_id, limit=limit, payment_id=payment_id)
    return {"data": [receipt_view(r, base) for r in rows]}


@router.get("/receipts/{token}", response_class=HTMLResponse, include_in_schema=False)
def receipt_page(token: str, request: Request, db: DatabaseDep) -> HTMLResponse:
    receipt, record = _found(db, token)
    document = service.proof(db, log_key(), receipt)
    invoice = receipt_invoice_state(db, receipt, request.query_params.get("error"))
    rating = None
    if receipt.kind == "payment":
        with db.reader() as session:
            rating = satisfaction.page_state(session, receipt.payment_id, request.query_params.get("rating_error"))
    page = documents.receipt_html(record, document, links("", token), invoice, rating)
    return HTMLResponse(page, headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


@router.post("/receipts/{token}/rating", include_in_schema=False)
def rate_payment(token: str, db: DatabaseDep, score: Annotated[str, Form(max_length=8)] = "",
                 comment: Annotated[str, Form(max_length=2000)] = "") -> RedirectResponse:
    """The payer's 1–5 rating and comment; a refusal comes back to the page by its code, nothing saved."""
    receipt, _ = _found(db, token)
    if receipt.kind != "payment":
        raise ApiError(404, "receipt_not_found", NOT_FOUND)
    try:
        with db.session() as session, session.begin():
            satisfaction.rate(session, receipt.payment_id, score, comment, utcnow())
    except satisfaction.SatisfactionError as e:
        return RedirectResponse(f"/receipts/{token}?rating_error={e.code}", status_code=303)
    return RedirectResponse(f"/receipts/{token}", status_code=303)


@router.get("/receipts/{token}/receipt.pdf", include_in_schema=False)
def receipt_pdf(token: str, db: DatabaseDep) -> Response:
    receipt, record = _found(db, token)
    pdf = documents.receipt_pdf(record, service.proof(db, log_key(), receipt))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="receipt-{receipt.id}.pdf"', "Cache-Control": "no-store"})


@router.get("/receipts/{token}/proof.json", include_in_schema=False)
def receipt_proof(token: str, db: DatabaseDep) -> JSONResponse:
    receipt, _ = _found(db, token)
    return JSONResponse(service.proof(db, log_key(), receipt), headers={"Cache-Control": "no-store"})
