"""Installment plans per merchant and channel, and the schedule a payer is shown before paying.
Installment payments themselves are `POST /v1/payments` with `installments`."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from juhe.api.deps import ReadSessionDep, SessionDep, require
from juhe.db.types import utcnow
from juhe.installments import plans
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.money import Money

router = APIRouter(prefix="/v1", tags=["installments"])
Seller = Annotated[Principal, Depends(require("business"))]
Reader = Annotated[Principal, Depends(require("business", "finance"))]


class OptionIn(BaseModel):
    periods: int = Field(description="3, 6, 12 or 24, as the channel offers")
    fee_rate_per_period: str = Field(max_length=12, description='每期手续费率 on the principal, a decimal string: "0.006" = 0.6 %')


class PlanIn(BaseModel):
    channel: str = Field(max_length=20)
    name: str = Field("", max_length=128)
    fee_bearer: Literal["payer", "merchant"] = Field(description="merchant: interest-free to the payer (免息)")
    options: list[OptionIn] = Field(min_length=1, max_length=4)


@router.post("/installment-plans", status_code=201)
def create_plan(body: PlanIn, request: Request, session: SessionDep, principal: Seller) -> dict:
    plan = plans.create_plan(session, request.app.state.payments.channels, principal.merchant_id, channel=body.channel,
                             name=body.name, fee_bearer=body.fee_bearer, options=[o.model_dump() for o in body.options])
    return plans.plan_view(plan)


@router.get("/installment-plans")
def list_plans(session: ReadSessionDep, principal: Reader) -> dict:
    return {"data": [plans.plan_view(p) for p in plans.merchant_plans(session, principal.merchant_id)]}


@router.get("/installment-plans/{plan_id}")
def get_plan(plan_id: uuid.UUID, session: ReadSessionDep, principal: Reader) -> dict:
    return plans.plan_view(plans.own_plan(session, principal.merchant_id, plan_id))


@router.get("/installment-plans/{plan_id}/quote")
def quote(plan_id: uuid.UUID, session: ReadSessionDep, principal: Reader,
          amount_minor: Annotated[int, Query(gt=0, le=AMOUNT_MAX)], currency: str = "CNY",
          periods: int | None = None) -> dict:
    """What the payer sees before paying: per period, fees, total and APR — for one period count, or each one offered."""
    plan = plans.own_plan(session, principal.merchant_id, plan_id)
    counts = [periods] if periods is not None else [o["periods"] for o in plan.options]
    today = utcnow().date()
    quotes = [plans.plan_quote(plan, Money(amount_minor, currency), n, today).as_json() for n in counts]
    return {"plan_id": str(plan.id), "channel": plan.channel, "quotes": quotes}
