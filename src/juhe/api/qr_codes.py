"""Aggregated QR codes of stores: issue (static, or dynamic for one till order), list, and the
printable files. The public landing page the codes point to is `api/pay_pages.py`."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from juhe.api.deps import ReadSessionDep, SessionDep, require
from juhe.api.idempotency import run_idempotent
from juhe.db.models import Store
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.money import Money
from juhe.payments.models import Payment
from juhe.qrcodes import codes, render
from juhe.qrcodes.models import QrCode

router = APIRouter(prefix="/v1", tags=["qr codes"])
Seller = Annotated[Principal, Depends(require("business"))]
Reader = Annotated[Principal, Depends(require("business", "finance"))]
FILE_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


class QrCodeIn(BaseModel):
    kind: Literal["static", "dynamic"] = "static"
    label: str = Field("", max_length=64, description="the checkout the code stands at, e.g. 'Till 2'")
    subject: str = Field("", max_length=128, description="what the payer sees; the store's name when empty")
    amount_minor: int | None = Field(None, gt=0, le=AMOUNT_MAX, description="fixed amount; required for dynamic codes")
    currency: str = Field("CNY", min_length=3, max_length=3)
    expires_in_s: int | None = Field(None, description="dynamic codes: 60–86,400 (default 300)")


def public_base_url(request: Request) -> str:
    # The URL channels notify is the public one (JUHE_PUBLIC_BASE_URL); printed codes point there too.
    return request.app.state.payments.notify_base_url.removesuffix("/v1/notify")


def view(request: Request, code: QrCode, paid_status: str | None = None) -> dict:
    return codes.code_view(code, public_base_url(request), str(request.base_url).rstrip("/"), paid_status)


@router.post("/stores/{store_id}/qr-codes", status_code=201)
def create_qr_code(store_id: uuid.UUID, body: QrCodeIn, request: Request, session: SessionDep, principal: Seller):
    """A static code to print (fixed or open amount), or — with an Idempotency-Key — a dynamic
    code a till shows for exactly one order."""

    def issue(_scope: str = "") -> tuple[int, dict]:
        code = codes.create_code(session, principal.merchant_id, store_id, kind=body.kind, label=body.label,
                                 subject=body.subject, amount_minor=body.amount_minor, currency=body.currency,
                                 expires_in_s=body.expires_in_s)
        return 201, view(request, code)

    if body.kind == "dynamic":  # an order: a till retrying must not make two
        return run_idempotent(request, session, principal, body, issue)
    return issue()[1]


@router.get("/stores/{store_id}/qr-codes")
def list_qr_codes(store_id: uuid.UUID, request: Request, session: ReadSessionDep, principal: Reader) -> dict:
    found = codes.store_codes(session, principal.merchant_id, store_id)
    return {"data": [view(request, c, _paid_status(session, c)) for c in found]}


@router.get("/qr-codes/{code_id}.{file_type}", response_class=Response)
def qr_code_file(code_id: uuid.UUID, file_type: str, request: Request, session: ReadSessionDep, principal: Reader) -> Response:
    if file_type not in FILE_TYPES:
        raise codes.QrCodeError(404, "not_found", f"files are {', '.join(FILE_TYPES)}")
    code = codes.own_code(session, principal.merchant_id, code_id)
    return Response(code_file(code, session.get(Store, code.store_id), file_type, public_base_url(request)),
                    media_type=FILE_TYPES[file_type])


@router.get("/qr-codes/{code_id}")  # after the files: "{id}.png" must not parse as an id
def get_qr_code(code_id: uuid.UUID, request: Request, session: ReadSessionDep, principal: Reader) -> dict:
    code = codes.own_code(session, principal.merchant_id, code_id)
    return view(request, code, _paid_status(session, code))


def code_file(code: QrCode, store: Store, file_type: str, base_url: str) -> bytes:
    url = codes.landing_url(code, base_url)
    if file_type == "png":
        return render.png(url)
    if file_type == "svg":
        return render.svg(url)
    amount = f"¥{Money(code.amount_minor, code.currency).decimal_text()}" if code.amount_minor is not None else None
    return render.pdf(render.Card(url, store.name, code.label or code.subject, amount))


def _paid_status(session, code: QrCode) -> str | None:
    payment = session.get(Payment, code.payment_id) if code.payment_id else None
    return payment.status if payment else None
