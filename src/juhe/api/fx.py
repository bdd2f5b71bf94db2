"""FX quotes for cross-border payments: rate, spread and expiry from the channel's FX desk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from juhe.api.deps import require
from juhe.api.payments import Ctx
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.money import Money
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
