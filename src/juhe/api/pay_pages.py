"""The public landing page of aggregated QR codes (no API key: the payer's wallet opens it).

GET tells the wallet by its User-Agent (or `?wallet=` from the choice page), learns a WeChat
payer's openid by web authorisation first, and shows the amount to confirm or to enter; the
POST starts the payment on that wallet's channel and hands the payer to its cashier. A refusal
is problem+json with its stable code, or a page saying the same to a browser that asks for HTML."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from juhe.api.payments import Ctx
from juhe.api.qr_codes import public_base_url
from juhe.channels.base import ChannelError
from juhe.db.models import Store
from juhe.money import Money
from juhe.payments.service import PaymentError
from juhe.qrcodes import checkout, codes
from juhe.qrcodes.wallets import WALLETS, IdentifiesPayer, Wallet, wallet_of

router = APIRouter(tags=["qr codes"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


@router.get("/q/{token}")
async def landing(token: str, request: Request, ctx: Ctx, wallet: str | None = None, code: str | None = None) -> Response:
    try:
        qr, store_name = await ctx.db.run(_code_and_store, ctx, token)
        chosen = _wallet(wallet, request, ctx)
        if chosen is None:
            connected = [w for w in WALLETS.values() if w.channel in ctx.channels]
            return _page(request, "pay_choice.html", store_name=store_name, token=token, wallets=connected)
        openid = None
        if chosen.channel == "wechatpay":
            identity: IdentifiesPayer = ctx.channels[chosen.channel]
            if code is None:  # first visit: WeChat tells us who the payer is, then sends them back here
                back = f"{public_base_url(request)}/q/{token}?wallet={chosen.code}"
                return RedirectResponse(identity.payer_identity_url(back, token[:16]), status_code=302)
            openid = await _openid(identity, code)
        fixed = Money(qr.amount_minor, qr.currency).decimal_text() if qr.amount_minor is not None else None
        return _page(request, "pay_landing.html", store_name=store_name, subject=qr.subject, label=qr.label, token=token,
                     wallet=chosen, nonce=secrets.token_urlsafe(12), openid=openid, fixed_amount=fixed)
    except PaymentError as exc:
        return _refused(request, exc)


@router.post("/q/{token}")
async def pay(token: str, request: Request, ctx: Ctx, wallet: Annotated[str, Form(max_length=16)],
              nonce: Annotated[str, Form(max_length=64)], amount: Annotated[str | None, Form(max_length=24)] = None,
              openid: Annotated[str | None, Form(max_length=128)] = None) -> Response:
    try:
        chosen = _wallet(wallet, request, ctx)
        if chosen is None:
            raise codes.QrCodeError(422, "unknown_wallet", f"wallet must be one of {', '.join(WALLETS)}")
        if chosen.channel == "wechatpay" and not openid:
            raise codes.QrCodeError(422, "payer_unknown", "open the code in WeChat again: the payer's openid is missing")
        back = f"{public_base_url(request)}/q/{token}/r/{nonce}"  # the cashier returns the payer here
        scan = checkout.Scan(token, chosen, amount, nonce, back, openid=openid,
                             client_ip=request.client.host if request.client else None)
        payment = await checkout.start_payment(ctx, scan)
        return _to_cashier(request, token, nonce, payment)
    except PaymentError as exc:
        return _refused(request, exc)


@router.get("/q/{token}/r/{nonce}")
async def payment_status(token: str, nonce: str, request: Request, ctx: Ctx) -> Response:
    """Where a wallet's cashier sends the payer back: how the payment of that confirmation stands."""
    try:
        store_name, payment = await ctx.db.run(checkout.returned_payment, ctx, token, nonce)
    except PaymentError as exc:
        return _refused(request, exc)
    return _page(request, "pay_status.html", store_name=store_name, status=payment.status,
                 amount=Money(payment.amount_minor, payment.currency).decimal_text())


def _code_and_store(ctx, token: str):
    with ctx.db.reader() as session:
        qr = codes.scanned(session, token)
        return qr, session.get(Store, qr.store_id).name


def _wallet(asked: str | None, request: Request, ctx) -> Wallet | None:
    """The payer's wallet, asked or told by its User-Agent; one whose channel this deployment has
    not connected is refused, so a payer is never handed to a cashier that cannot answer."""
    if asked is not None and asked not in WALLETS:
        raise codes.QrCodeError(422, "unknown_wallet", f"wallet must be one of {', '.join(WALLETS)}")
    wallet = WALLETS[asked] if asked is not None else wallet_of(request.headers.get("user-agent", ""))
    if wallet is not None and wallet.channel not in ctx.channels:
        raise codes.QrCodeError(422, "wallet_not_available", f"{wallet.name} is not connected here; choose another wallet")
    return wallet


async def _openid(identity: IdentifiesPayer, code: str) -> str:
    try:
        return await identity.payer_identity(code)
    except ChannelError as exc:
        raise codes.QrCodeError(502, "payer_identity_failed", f"WeChat did not confirm who is paying ({exc.code}); scan again") from None


def _to_cashier(request: Request, token: str, nonce: str, payment) -> Response:
    action = payment.next_action or {}
    status_url = f"/q/{token}/r/{nonce}"
    if payment.status != "processing" or action.get("type") not in ("redirect", "form", "app"):
        return RedirectResponse(status_url, status_code=303)
    if action["type"] == "redirect":
        return RedirectResponse(action["redirect_url"], status_code=303)
    if action["type"] == "form":  # UnionPay: a page that posts itself to the gateway
        return HTMLResponse(action["form_html"])
    return _page(request, "pay_wechat.html", store_name=payment.subject, jsapi=action["app_params"], status_url=status_url,
                 amount=Money(payment.amount_minor, payment.currency).decimal_text())


def _page(request: Request, name: str, status_code: int = 200, **context) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code,
                                      headers={"Cache-Control": "no-store"})


def _refused(request: Request, exc: PaymentError) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return _page(request, "pay_error.html", exc.status, code=exc.code, detail=str(exc))
    raise exc
