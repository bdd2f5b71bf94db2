"""FX quotes for cross-border payments: rate, spread and expiry from the channel's FX desk."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from juhe.api.deps import ReadSessionDep, require
from juhe.api.errors import ApiError
from juhe.api.payments import Ctx
from juhe.config import get_settings
from juhe.db.types import utcnow
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.money import Money
from juhe.settlement.calendar import business_date
from juhe.treasury import fx_cost, fx_desks
from juhe.treasury.fx_quotes import find_quote, quote_view, take_quote

router = APIRouter(prefix="/v1/fx", tags=["fx"])
Dealer = Annotated[Principal, Depends(require("business", "finance"))]


CURRENCY = r"^[A-Z]{3}$"  # an ISO 4217 code's shape; "000" once reached the channel's wire model and was a 500


class QuoteIn(BaseModel):
    sell_currency: str = Field(pattern=CURRENCY, examples=["CNY"])
    buy_currency: str = Field(pattern=CURRENCY, examples=["USD"])
    amount_minor: int = Field(gt=0, le=AMOUNT_MAX)
    currency: str = Field(pattern=CURRENCY, description="the currency of amount_minor: either side")


@router.post("/quotes", status_code=201)
async def create_quote(body: QuoteIn, principal: Dealer, ctx: Ctx) -> dict:
    quote = await take_quote(ctx, principal.merchant_id, body.sell_currency, body.buy_currency,
                             Money(body.amount_minor, body.currency))
    return quote_view(quote)


@router.get("/quotes/{quote_id}")
def get_quote(quote_id: str, principal: Dealer, ctx: Ctx) -> dict:
    return quote_view(find_quote(ctx, principal.merchant_id, quote_id))


@router.get("/cost")
def cost(principal: Dealer, session: ReadSessionDep, day: date | None = None,
         sample_seed: Annotated[int | None, Query(ge=0, description="a simulated exporter's day instead of your payments")] = None) -> dict:
    """The day's cross-border FX cost in bps of the gross flows against mid: each payment converted on
    its own at the channel's desk (before) and the day netted per pair, dealt in session at the
    cheapest desk (after)."""
    settings = get_settings()
    url = fx_desks.desks_url(settings.fx_desks_url, settings.channel_mode)
    if url is None:
        raise ApiError(503, "fx_desks_not_configured", "no FX desks are configured (JUHE_FX_DESKS_URL)")
    on = day or business_date(utcnow())
    flows = fx_cost.sample_day(on, sample_seed) if sample_seed is not None else fx_cost.flows_of_day(session, on, principal.merchant_id)
    return fx_cost.report(flows, url)
