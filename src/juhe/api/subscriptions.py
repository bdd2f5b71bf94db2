"""Subscriptions under /v1/billing (beside the e-invoices of /v1/invoices): products and plans, coupons, mandates,
subscriptions, usage, subscription invoices."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from juhe.api.deps import SessionDep, require
from juhe.api.errors import ApiError
from juhe.api.idempotency import run_idempotent
from juhe.api.payments import Ctx
from juhe.db.pages import PAGE_MAX, Page, keyset, split
from juhe.db.types import utcnow
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.subscriptions import service
from juhe.subscriptions.errors import SubscriptionError
from juhe.subscriptions.models import Invoice, Subscription
from juhe.subscriptions.views import invoice_view, mandate_view, plan_view, subscription_view

router = APIRouter(prefix="/v1/billing", tags=["subscriptions"])
Seller = Annotated[Principal, Depends(require("business"))]
Reader = Annotated[Principal, Depends(require("business", "finance"))]


@contextmanager
def refusals():
    try:
        yield
    except SubscriptionError as e:
        raise ApiError(e.status, e.code, str(e), **e.extra) from None


class ProductIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class PlanIn(BaseModel):
    product_id: uuid.UUID
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    currency: str = Field("CNY", min_length=3, max_length=3)
    interval: str = "month"
    pricing: dict = Field(description='{"model": "fixed|per_seat|tiered|metered", "unit_amount_minor", "tiers": [{"up_to", "unit_amount_minor"}]}')
    trial_days: int = 0


class CouponIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    percent_off: int = Field(0, ge=0, le=100)
    amount_off_minor: int = Field(0, ge=0, le=AMOUNT_MAX)
    duration: str = "once"
    duration_cycles: int | None = Field(None, ge=1, le=120)


class MandateIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128)
    channel: str = "alipay"
    agreement_no: str = Field(min_length=1, max_length=64, description="from the channel's signing flow")


class SubscriptionIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128)
    plan: str = Field(min_length=1, max_length=64, description="the plan's code")
    mandate_id: uuid.UUID
    quantity: int = 1
    coupon: str | None = Field(None, max_length=64)
    anchor_day: int | None = None


class ChangeIn(BaseModel):
    plan: str | None = Field(None, max_length=64)
    quantity: int | None = None
    proration_date: AwareDatetime | None = None


class UsageIn(BaseModel):
    event_id: str = Field(min_length=1, max_length=128)
    quantity: int
    at: AwareDatetime | None = None


def _run(request: Request, session, principal, body, build):
    def effect(_scope: str):
        with refusals():
            return build()
    return run_idempotent(request, session, principal, body, effect)


@router.post("/products", status_code=201)
def add_product(body: ProductIn, request: Request, principal: Seller, session: SessionDep):
    return _run(request, session, principal, body, lambda: (201, {
        "id": str(service.add_product(session, principal.merchant_id, body.name).id), "object": "product", "name": body.name}))


@router.post("/plans", status_code=201)
def add_plan(body: PlanIn, request: Request, principal: Seller, session: SessionDep):
    return _run(request, session, principal, body, lambda: (201, plan_view(service.add_plan(
        session, principal.merchant_id, body.product_id, body.code, body.currency, body.interval, body.pricing, body.trial_days))))


@router.post("/coupons", status_code=201)
def add_coupon(body: CouponIn, request: Request, principal: Seller, session: SessionDep):
    def build():
        coupon = service.add_coupon(session, principal.merchant_id, body.code, body.percent_off, body.amount_off_minor,
                                    body.duration, body.duration_cycles)
        return 201, {"id": str(coupon.id), "object": "coupon", **body.model_dump()}
    return _run(request, session, principal, body, build)


@router.post("/mandates", status_code=201)
def add_mandate(body: MandateIn, request: Request, principal: Seller, session: SessionDep):
    return _run(request, session, principal, body, lambda: (201, mandate_view(service.add_mandate(
        session, principal.merchant_id, body.customer_id, body.channel, body.agreement_no, utcnow()))))


@router.post("/mandates/{mandate_id}/revoke")
def revoke_mandate(mandate_id: uuid.UUID, request: Request, principal: Seller, session: SessionDep):
    return _run(request, session, principal, None, lambda: (200, mandate_view(
        service.revoke_mandate(session, principal.merchant_id, mandate_id, utcnow()))))


@router.post("/subscriptions", status_code=201)
def subscribe(body: SubscriptionIn, request: Request, principal: Seller, session: SessionDep):
    new = service.NewSubscription(body.customer_id, body.plan, body.mandate_id, body.quantity, body.coupon, body.anchor_day)
    return _run(request, session, principal, body, lambda: (201, subscription_view(
        service.subscribe(session, principal.merchant_id, new, utcnow()))))


@router.post("/subscriptions/{sub_id}/change")
def change(sub_id: uuid.UUID, body: ChangeIn, request: Request, principal: Seller, session: SessionDep):
    """Upgrade, downgrade or change seats now, prorated for the rest of the period."""
    def build():
        sub, invoice = service.change_plan(session, principal.merchant_id, sub_id, body.plan, body.quantity, utcnow(),
                                           body.proration_date)
        return 200, subscription_view(sub) | {"proration_invoice": invoice_view(invoice) if invoice else None}
    return _run(request, session, principal, body, build)


@router.post("/subscriptions/{sub_id}/cancel")
def cancel(sub_id: uuid.UUID, request: Request, principal: Seller, session: SessionDep):
    """Cancel at the end of the current period."""
    return _run(request, session, principal, None, lambda: (200, subscription_view(
        service.cancel_at_period_end(session, principal.merchant_id, sub_id, utcnow()))))


@router.post("/subscriptions/{sub_id}/pause")
def pause(sub_id: uuid.UUID, request: Request, principal: Seller, session: SessionDep):
    """Pause at the end of the current period; `resume` starts it again."""
    return _run(request, session, principal, None, lambda: (200, subscription_view(
        service.cancel_at_period_end(session, principal.merchant_id, sub_id, utcnow(), pause=True))))


@router.post("/subscriptions/{sub_id}/resume")
def resume(sub_id: uuid.UUID, request: Request, principal: Seller, session: SessionDep):
    return _run(request, session, principal, None, lambda: (200, subscription_view(
        service.resume(session, principal.merchant_id, sub_id, utcnow()))))


@router.post("/subscriptions/{sub_id}/usage", status_code=201)
def record_usage(sub_id: uuid.UUID, body: UsageIn, principal: Seller, session: SessionDep) -> dict:
    """A metered event; the same event_id again is counted once."""
    with refusals():
        counted = service.record_usage(session, principal.merchant_id, sub_id, body.event_id, body.quantity, body.at or utcnow())
    return {"event_id": body.event_id, "counted": counted}


@router.get("/subscriptions/{sub_id}")
def get_subscription(sub_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        sub = session.get(Subscription, sub_id)
        if sub is None or sub.merchant_id != principal.merchant_id:
            raise ApiError(404, "subscription_not_found", f"no subscription {sub_id}")
        return subscription_view(sub)


@router.get("/invoices")
def list_invoices(principal: Reader, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
                  cursor: uuid.UUID | None = None, subscription_id: uuid.UUID | None = None, status: str | None = None) -> dict:
    query = select(Invoice).where(Invoice.merchant_id == principal.merchant_id)
    for column, value in ((Invoice.subscription_id, subscription_id), (Invoice.status, status)):
        if value is not None:
            query = query.where(column == value)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, Invoice.id, limit=limit, cursor=cursor)).all(), limit)
        return Page([invoice_view(i) for i in rows], next_cursor).as_json()
