"""Payments, refunds and the channels' notification endpoint."""

from __future__ import annotations

import io
import uuid
from typing import Annotated

import qrcode
import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.requests import ClientDisconnect
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from juhe.api.deps import require
from juhe.api.errors import ApiError
from juhe.api.idempotency import idempotency_key, request_fingerprint
from juhe.channels.base import Scenario
from juhe.db.pages import PAGE_MAX, Page, keyset, split
from juhe.installments.sales import create_installment_payment
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.money import Money
from juhe.payments import resume, service
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment, PaymentEvent, Refund
from juhe.payments.notifications import handle_notification
from juhe.payments.refunds import create_refund
from juhe.payments.views import payment_view, refund_view
from juhe.pii.card_data import card_data_in
from juhe.safety.crashpoints import hit as crash_point
from juhe.verification.service import VerificationError
from juhe.verification.service import enrol_authenticator as enrol_authenticator_secret

log = structlog.get_logger()
router = APIRouter(prefix="/v1", tags=["payments"])
Seller = Annotated[Principal, Depends(require("business"))]
Refunder = Annotated[Principal, Depends(require("business", "finance"))]
Reader = Annotated[Principal, Depends(require("business", "finance", "risk"))]


def get_ctx(request: Request) -> PaymentsContext:
    return request.app.state.payments


Ctx = Annotated[PaymentsContext, Depends(get_ctx)]


class InstallmentsIn(BaseModel):
    plan_id: uuid.UUID
    periods: int = Field(description="one of the plan's period counts")


class PaymentIn(BaseModel):
    amount_minor: int = Field(gt=0, le=AMOUNT_MAX, description="in minor units of the currency (fen for CNY)")
    currency: str = Field("CNY", min_length=3, max_length=3)
    scenario: Scenario
    subject: str = Field(min_length=1, max_length=128)
    customer_id: str | None = Field(None, max_length=128)
    store_id: uuid.UUID | None = None
    business_line_id: uuid.UUID | None = None
    preferred_channel: str | None = None
    return_url: str | None = Field(None, max_length=512)
    expires_in_s: int | None = Field(None, ge=60, le=86_400)
    payer: dict[str, str] = Field(default_factory=dict, description="openid for jsapi, client_ip for wap, device_id and face_token for face")
    metadata: dict[str, str] = Field(default_factory=dict)
    installments: InstallmentsIn | None = Field(None, description="pay in installments on the plan's channel (its quote first)")


class RefundIn(BaseModel):
    amount_minor: int | None = Field(None, gt=0, le=AMOUNT_MAX, description="omit to refund all that is left")
    reason: str = Field("", max_length=200)


@router.post("/payments", status_code=201)
async def create_payment(body: PaymentIn, request: Request, response: Response, principal: Seller, ctx: Ctx) -> dict:
    key = idempotency_key(request)
    named = {"subject": body.subject, "customer_id": body.customer_id or ""}
    refused = card_data_in(named, "payment") + card_data_in(body.payer, "payer") + card_data_in(body.metadata, "metadata")
    if refused:  # before the payment, its idempotency record or its screening could store them
        raise ApiError(422, "card_data_refused", f"full card numbers and security codes are never accepted here: {', '.join(refused)}")
    new = service.NewPayment(
        amount=Money(body.amount_minor, body.currency), scenario=body.scenario, subject=body.subject,
        customer_id=body.customer_id, store_id=body.store_id, business_line_id=body.business_line_id,
        preferred_channel=body.preferred_channel, return_url=body.return_url, expires_in_s=body.expires_in_s,
        payer=body.payer, metadata=body.metadata,
    )
    fingerprint = request_fingerprint(request, body)
    if body.installments is None:
        payment, created = await service.create_payment(ctx, principal.merchant_id, key, fingerprint, new)
    else:
        payment, created = await create_installment_payment(ctx, principal.merchant_id, key, fingerprint, new,
                                                            body.installments.plan_id, body.installments.periods)
    crash_point("payment.answer")
    response.status_code = 201 if created else 200
    response.headers["Idempotent-Replayed"] = "false" if created else "true"
    return payment_view(payment)


@router.get("/payments")
def list_payments(
    principal: Reader, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50, cursor: uuid.UUID | None = None,
    status: str | None = None, channel: str | None = None, store_id: uuid.UUID | None = None,
    created_from: AwareDatetime | None = None, created_to: AwareDatetime | None = None,
) -> dict:
    query = select(Payment).where(Payment.merchant_id == principal.merchant_id)
    for column, value in ((Payment.status, status), (Payment.channel, channel), (Payment.store_id, store_id)):
        if value is not None:
            query = query.where(column == value)
    if created_from:
        query = query.where(Payment.created_at >= created_from)
    if created_to:
        query = query.where(Payment.created_at < created_to)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, Payment.id, limit=limit, cursor=cursor)).all(), limit)
    return Page([payment_view(p) for p in rows], next_cursor).as_json()


@router.get("/payments/{payment_id}")
def get_payment(payment_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        payment = _own(session, principal, payment_id)
        timeline = session.scalars(select(PaymentEvent).where(PaymentEvent.payment_id == payment_id).order_by(PaymentEvent.id)).all()
        return payment_view(payment, list(timeline))


@router.get("/payments/{payment_id}/qr.png", response_class=Response)
def payment_qr(payment_id: uuid.UUID, principal: Reader, ctx: Ctx) -> Response:
    with ctx.db.reader() as session:
        payment = _own(session, principal, payment_id)
    content = (payment.next_action or {}).get("qr_content") or (payment.next_action or {}).get("redirect_url")
    if payment.status != "processing" or not content:
        raise ApiError(409, "no_qr_code", "this payment has no code to scan now")
    png = io.BytesIO()
    qrcode.make(content).save(png)
    return Response(png.getvalue(), media_type="image/png")


@router.post("/payments/{payment_id}/cancel")
async def cancel_payment(payment_id: uuid.UUID, principal: Seller, ctx: Ctx) -> dict:
    return payment_view(await service.cancel_payment(ctx, principal.merchant_id, payment_id))


class VerificationIn(BaseModel):
    otp: str | None = Field(None, max_length=10, description="the code from the payer's authenticator app or SMS")
    face_token: str | None = Field(None, max_length=4096, description="for large amounts: a capture from the face device")


@router.post("/payments/{payment_id}/verification")
async def verify_payment(payment_id: uuid.UUID, body: VerificationIn, principal: Seller, ctx: Ctx) -> dict:
    """The payer's answer to a step-up (next_action type `verify`). Three failed attempts lock the payment."""
    try:
        return payment_view(await resume.verify_payment(ctx, principal.merchant_id, payment_id, body.otp, body.face_token))
    except VerificationError as e:
        raise ApiError(e.status, e.code, str(e), **e.extra) from None


class AuthenticatorIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128)


@router.post("/customers/authenticator", status_code=201)
def enrol_authenticator(body: AuthenticatorIn, principal: Seller, ctx: Ctx) -> dict:
    """A TOTP secret for the customer's authenticator app (shown once): step-ups then ask for its code, not an SMS."""
    with ctx.db.session() as session, session.begin():
        secret, uri = enrol_authenticator_secret(session, principal.merchant_id, body.customer_id)
    return {"customer_id": body.customer_id, "secret": secret, "provisioning_uri": uri}


@router.post("/payments/{payment_id}/refunds", status_code=201)
async def refund_payment(payment_id: uuid.UUID, body: RefundIn, request: Request, response: Response,
                         principal: Refunder, ctx: Ctx) -> dict:
    key = idempotency_key(request)
    refund, created = await create_refund(ctx, principal.merchant_id, payment_id, key, request_fingerprint(request, body),
                                          body.amount_minor, body.reason)
    response.status_code = 201 if created else 200
    response.headers["Idempotent-Replayed"] = "false" if created else "true"
    return refund_view(refund)


@router.get("/payments/{payment_id}/refunds")
def list_refunds(payment_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        _own(session, principal, payment_id)
        rows = session.scalars(select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.created_at)).all()
        return {"data": [refund_view(r) for r in rows]}


@router.get("/refunds/{refund_id}")
def get_refund(refund_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        refund = session.get(Refund, refund_id)
        if refund is None or refund.merchant_id != principal.merchant_id:
            raise ApiError(404, "refund_not_found", f"no refund {refund_id}")
        return refund_view(refund)


@router.post("/notify/{channel}", include_in_schema=False)
async def channel_notification(channel: str, request: Request, ctx: Ctx) -> Response:
    if channel not in ctx.channels:
        raise ApiError(404, "channel_not_configured", f"channel {channel} is not configured")
    try:
        body = await request.body()
    except ClientDisconnect:  # the channel gave up before sending it all: it retries, and polling backs it up
        log.info("notification.client_disconnected", channel=channel)
        return Response(status_code=400)
    ack = await ctx.db.run(handle_notification, ctx, channel, dict(request.headers), body)
    return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)


def _own(session, principal: Principal, payment_id: uuid.UUID) -> Payment:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.merchant_id != principal.merchant_id:
        raise ApiError(404, "payment_not_found", f"no payment {payment_id}")
    return payment
