"""Taking an FX quote from the cross-border channel's desk and keeping it for the merchant."""

from __future__ import annotations

import uuid
from datetime import datetime

from juhe.channels.base import ChannelError
from juhe.channels.crossborder.fx import FxError
from juhe.db.types import utcnow
from juhe.money import Money
from juhe.payments.context import PaymentsContext
from juhe.treasury.models import FxQuote

FX_CHANNEL = "crossborder"


class QuoteError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


async def take_quote(ctx: PaymentsContext, merchant_id: uuid.UUID, sell: str, buy: str, amount: Money) -> FxQuote:
    desk = ctx.channels.get(FX_CHANNEL)
    if desk is None:
        raise QuoteError(503, "channel_not_configured", "no FX desk is configured")
    try:
        quote = await desk.quote(sell, buy, amount)
    except FxError as error:
        raise QuoteError(422, error.code, str(error)) from None
    except ChannelError as error:
        raise QuoteError(503, "channel_unavailable", f"the FX desk did not answer: {error}") from None
    return await ctx.db.run(_keep, ctx, merchant_id, quote)


def _keep(ctx: PaymentsContext, merchant_id: uuid.UUID, quote) -> FxQuote:
    with ctx.db.session() as session, session.begin():
        row = FxQuote(id=quote.id, merchant_id=merchant_id, channel=FX_CHANNEL, sell_currency=quote.sell,
                      buy_currency=quote.buy, rate=str(quote.rate), spread_bps=quote.spread_bps,
                      expires_at=quote.expires_at, created_at=utcnow())
        session.add(row)
        return row


def find_quote(ctx: PaymentsContext, merchant_id: uuid.UUID, quote_id: str) -> FxQuote:
    with ctx.db.reader() as session:
        row = session.get(FxQuote, quote_id)
    if row is None or row.merchant_id != merchant_id:
        raise QuoteError(404, "fx_quote_not_found", f"no FX quote {quote_id}")
    return row


def quote_view(row: FxQuote, now: datetime | None = None) -> dict:
    now = now or utcnow()
    return {"id": row.id, "object": "fx_quote", "sell_currency": row.sell_currency, "buy_currency": row.buy_currency,
            "rate": row.rate, "spread_bps": row.spread_bps, "expires_at": row.expires_at.isoformat(),
            "expired": row.expires_at <= now, "created_at": row.created_at.isoformat()}
