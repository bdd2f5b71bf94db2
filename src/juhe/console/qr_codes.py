"""QR codes (business): each store's aggregated codes with the code itself to print, and a form
that issues a new static one (fixed or open amount) through juhe.qrcodes, as the API does."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from juhe.console.users import ConsoleUserView
from juhe.console.web import acting, database, permitted, render
from juhe.db.models import Store
from juhe.money import Money, MoneyError
from juhe.qrcodes import codes, render as qr_render
from juhe.qrcodes.models import QrCode

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("qr.view"))]
Issuer = Annotated[ConsoleUserView, Depends(acting("qr.manage"))]
FILE_TYPES = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}


def _public_base(request: Request) -> str:
    return request.app.state.payments.notify_base_url.removesuffix("/v1/notify")


@router.get("/qr-codes")
def stores_page(request: Request, user: Viewer):
    counted = (select(Store, func.count(QrCode.id)).outerjoin(QrCode, QrCode.store_id == Store.id)
               .where(Store.merchant_id == user.merchant_id).group_by(Store.id).order_by(Store.code))
    with database(request).reader() as session:
        stores = session.execute(counted).all()
    return render(request, "qr_codes.html", user, stores=stores)


@router.get("/stores/{store_id}/qr-codes")
def store_page(store_id: uuid.UUID, request: Request, user: Viewer):
    return _store_view(store_id, request, user)


def _store_view(store_id: uuid.UUID, request: Request, user: ConsoleUserView, error: str | None = None, status_code: int = 200):
    base = _public_base(request)
    with database(request).reader() as session:
        store = session.get(Store, store_id)
        if store is None or store.merchant_id != user.merchant_id:
            return render(request, "not_found.html", user, 404)
        found = codes.store_codes(session, user.merchant_id, store_id)
    shown = [(c, codes.landing_url(c, base), _inline_svg(codes.landing_url(c, base))) for c in found]
    return render(request, "store_qr_codes.html", user, status_code, store=store, codes=shown, error=error)


def _inline_svg(url: str) -> str:
    # Inside HTML the SVG element stands alone: its file's XML declaration is dropped.
    return qr_render.svg(url).decode().split("?>", 1)[-1]


@router.post("/stores/{store_id}/qr-codes")
def issue_code(store_id: uuid.UUID, request: Request, user: Issuer, label: Annotated[str, Form(max_length=64)] = "",
               amount: Annotated[str, Form(max_length=24)] = ""):
    try:
        amount_minor = Money.parse(amount, "CNY").amount_minor if amount.strip() else None
        with database(request).session() as session, session.begin():
            codes.create_code(session, user.merchant_id, store_id, kind="static", label=label, subject="",
                              amount_minor=amount_minor, currency="CNY", expires_in_s=None)
    except codes.QrCodeError as exc:
        if exc.code == "store_not_found":
            return render(request, "not_found.html", user, 404)
        return _store_view(store_id, request, user, str(exc), exc.status)
    except MoneyError as exc:
        return _store_view(store_id, request, user, str(exc), 422)
    return RedirectResponse(f"/console/stores/{store_id}/qr-codes", status_code=303)


@router.get("/qr-codes/{code_id}.{file_type}")
def code_file(code_id: uuid.UUID, file_type: str, request: Request, user: Viewer):
    if file_type not in FILE_TYPES:
        return render(request, "not_found.html", user, 404)
    with database(request).reader() as session:
        code = session.get(QrCode, code_id)
        if code is None or code.merchant_id != user.merchant_id:
            return render(request, "not_found.html", user, 404)
        store = session.get(Store, code.store_id)
    url = codes.landing_url(code, _public_base(request))
    if file_type == "pdf":
        amount = f"¥{Money(code.amount_minor, code.currency).decimal_text()}" if code.amount_minor is not None else None
        body = qr_render.pdf(qr_render.Card(url, store.name, code.label or code.subject, amount))
    else:
        body = qr_render.png(url) if file_type == "png" else qr_render.svg(url)
    return Response(body, media_type=FILE_TYPES[file_type])
