"""Buy now, pay later: credit lines, orders approved against them, capture, repayments."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from juhe.api.deps import SessionDep, require
from juhe.api.errors import ApiError
from juhe.api.idempotency import idempotency_key, request_fingerprint, run_idempotent
from juhe.api.payments import Ctx
from juhe.bnpl import repayments, service
from juhe.bnpl.errors import BnplError
from juhe.bnpl.models import BnplLine, BnplOrder, BnplRepayment
from juhe.bnpl.views import line_view, order_view, repayment_view
from juhe.channels.base import Scenario
from juhe.db.pages import PAGE_MAX, Page, keyset, split
from juhe.db.types import utcnow
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal

router = APIRouter(prefix="/v1/bnpl", tags=["bnpl"])
Seller = Annotated[Principal, Depends(require("business"))]
Reader = Annotated[Principal, Depends(require("business", "finance", "risk"))]


@contextmanager
def refusals():
    try:
        yield
    except BnplError as e:
        raise ApiError(e.status, e.code, str(e), **e.extra) from None


class LineIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128)
    currency: str = Field("CNY", min_length=3, max_length=3)


class OrderIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=128)
    amount_minor: int = Field(gt=0, le=AMOUNT_MAX)
    currency: str = Field("CNY", min_length=3, max_length=3)
    subject: str = Field(min_length=1, max_length=128)
    installments: int = Field(1, description="1, 2, 3, 4 or 6 monthly installments")
    store_id: uuid.UUID | None = None


class CaptureIn(BaseModel):
    amount_minor: int | None = Field(None, gt=0, le=AMOUNT_MAX, description="omit to capture the whole approval")


class RepaymentIn(BaseModel):
    amount_minor: int | None = Field(None, gt=0, le=AMOUNT_MAX, description="omit to repay everything owed (early repayment)")
    scenario: Scenario = Scenario.QR
    preferred_channel: str | None = None
    return_url: str | None = Field(None, max_length=512)
    payer: dict[str, str] = Field(default_factory=dict)


@router.post("/lines", status_code=201)
def decide_line(body: LineIn, request: Request, principal: Seller, session: SessionDep):
    """Decide (or decide again) the payer's credit line from their history."""
    def effect(_scope: str):
        with refusals():
            return 201, line_view(service.decide_line(session, principal.merchant_id, body.customer_id, body.currency, utcnow()))
    return run_idempotent(request, session, principal, body, effect)


@router.get("/lines")
def list_lines(principal: Reader, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
               cursor: uuid.UUID | None = None, customer_id: str | None = None) -> dict:
    query = select(BnplLine).where(BnplLine.merchant_id == principal.merchant_id)
    if customer_id is not None:
        query = query.where(BnplLine.customer_id == customer_id)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, BnplLine.id, limit=limit, cursor=cursor)).all(), limit)
        return Page([line_view(line) for line in rows], next_cursor).as_json()


@router.get("/lines/{line_id}")
def get_line(line_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        line = session.get(BnplLine, line_id)
        if line is None or line.merchant_id != principal.merchant_id:
            raise ApiError(404, "bnpl_line_not_found", f"no credit line {line_id}")
        return line_view(line)


@router.post("/orders", status_code=201)
def approve_order(body: OrderIn, request: Request, principal: Seller, session: SessionDep):
    """At checkout: approve the order against the payer's line (the amount is held) or refuse it."""
    new = service.NewOrder(body.customer_id, body.amount_minor, body.currency, body.subject, body.installments, body.store_id)

    def effect(scope: str):
        with refusals():
            return 201, order_view(service.approve_order(session, principal.merchant_id, scope, new, utcnow()), [])
    return run_idempotent(request, session, principal, body, effect)


@router.post("/orders/{order_id}/capture")
def capture_order(order_id: uuid.UUID, body: CaptureIn, request: Request, principal: Seller, session: SessionDep):
    """The goods shipped: the merchant is paid, the payer owes the installments."""
    def effect(_scope: str):
        with refusals():
            order = service.capture_order(session, principal.merchant_id, order_id, body.amount_minor, utcnow())
            return 200, order_view(order, service.installments_of(session, order))
    return run_idempotent(request, session, principal, body, effect)


@router.post("/orders/{order_id}/cancel")
def cancel_order(order_id: uuid.UUID, request: Request, principal: Seller, session: SessionDep):
    def effect(_scope: str):
        with refusals():
            return 200, order_view(service.cancel_order(session, principal.merchant_id, order_id, utcnow()), [])
    return run_idempotent(request, session, principal, None, effect)


@router.get("/orders")
def list_orders(principal: Reader, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
                cursor: uuid.UUID | None = None, status: str | None = None, customer_id: str | None = None) -> dict:
    query = select(BnplOrder).where(BnplOrder.merchant_id == principal.merchant_id)
    for column, value in ((BnplOrder.status, status), (BnplOrder.customer_id, customer_id)):
        if value is not None:
            query = query.where(column == value)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, BnplOrder.id, limit=limit, cursor=cursor)).all(), limit)
        return Page([order_view(o) for o in rows], next_cursor).as_json()


@router.get("/orders/{order_id}")
def get_order(order_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        order = session.get(BnplOrder, order_id)
        if order is None or order.merchant_id != principal.merchant_id:
            raise ApiError(404, "bnpl_order_not_found", f"no BNPL order {order_id}")
        paid = session.scalars(select(BnplRepayment).where(BnplRepayment.order_id == order_id).order_by(BnplRepayment.created_at))
        return order_view(order, service.installments_of(session, order), list(paid))


@router.post("/orders/{order_id}/repayments", status_code=201)
async def repay(order_id: uuid.UUID, body: RepaymentIn, request: Request, response: Response, principal: Seller, ctx: Ctx) -> dict:
    """Repay part or all of what is owed, through a payment on the merchant's channels; the
    answer carries the payment and what the payer does next (`payment.next_action`)."""
    key = idempotency_key(request)
    ask = repayments.RepaymentRequest(body.amount_minor, body.scenario, body.preferred_channel, body.return_url, body.payer)
    with refusals():
        repayment, payment, created = await repayments.start_repayment(
            ctx, principal.merchant_id, order_id, key, request_fingerprint(request, body), ask)
    response.status_code = 201 if created else 200
    response.headers["Idempotent-Replayed"] = "false" if created else "true"
    return repayment_view(repayment, payment)


@router.get("/repayments/{repayment_id}")
def get_repayment(repayment_id: uuid.UUID, principal: Reader, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        repayment = session.get(BnplRepayment, repayment_id)
        if repayment is None or repayment.merchant_id != principal.merchant_id:
            raise ApiError(404, "bnpl_repayment_not_found", f"no repayment {repayment_id}")
        return repayment_view(repayment)
