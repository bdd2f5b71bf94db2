"""A sandbox of several FX desks (the counterparties Juhe can deal with), served over HTTP, and
the client that asks every desk at once.

Each desk quotes the mid rate less its spread; the spread depends on the ticket's size (in US
dollars) and on the hour: inside China's onshore session (09:30–16:30 Beijing time) liquidity is
deep, outside it the desks widen. The mid rates are the cross-border correspondent's, so a
payment's FX cost here is the one it pays there. Only the desks are simulated; what Juhe does
with their quotes is juhe.treasury.fx_cost."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from juhe.channels.crossborder.sandbox import MID_CNY
from juhe.channels.simkit import ServerThread
from juhe.money import exponent
from juhe.settlement.calendar import DEFAULT_TIMEZONE, zone_of

BPS = 10_000
RATE_DIGITS = 6  # significant digits desks deal in
SESSION = (time(9, 30), time(16, 30))  # CFETS onshore CNY session, Beijing time
BATCH_MAX = 5_000  # quote requests per call


@dataclass(frozen=True, slots=True)
class Desk:
    code: str
    name: str
    tiers: tuple[tuple[int | None, int], ...]  # (up to this many USD, spread bps); None: any size above
    off_session: Fraction  # spread multiplier outside the onshore session
    min_usd: int = 0  # smaller tickets are refused


DESKS = (
    Desk("sndb", "Correspondent bank (the cross-border channel's desk)", ((None, 30),), Fraction(3, 2)),
    Desk("bank-b", "Second house bank", ((100_000, 35), (1_000_000, 20), (None, 12)), Fraction(3, 2)),
    Desk("ecn", "Electronic dealing platform", ((1_000_000, 15), (None, 10)), Fraction(2), min_usd=50_000),
)
DEFAULT_DESK = "sndb"  # where each cross-border payment converts today


def in_session(at: datetime) -> bool:
    local = at.astimezone(zone_of(DEFAULT_TIMEZONE)).time()
    return SESSION[0] <= local < SESSION[1]


def usd_size(currency: str, amount_minor: int) -> Fraction:
    return Fraction(amount_minor, 10 ** exponent(currency)) * Fraction(MID_CNY[currency]) / Fraction(MID_CNY["USD"])


def spread_bps(desk: Desk, usd: Fraction, at: datetime) -> int | None:
    """The desk's spread for a ticket of `usd` at `at`; None when it does not deal that size."""
    if usd < desk.min_usd:
        return None
    base = next(bps for top, bps in desk.tiers if top is None or usd <= top)
    return base if in_session(at) else round(base * desk.off_session)


def mid_rate(sell: str, buy: str) -> Decimal:
    return MID_CNY[sell] / MID_CNY[buy]


def dealing_rate(sell: str, buy: str, spread: int) -> Decimal:
    """Mid less the spread, cut (never rounded up) to the digits the desk deals in."""
    rate = mid_rate(sell, buy) * (BPS - spread) / BPS
    return rate.quantize(Decimal(1).scaleb(rate.adjusted() - RATE_DIGITS + 1), rounding=ROUND_DOWN)


class QuoteIn(BaseModel):
    sell_currency: str = Field(pattern=r"^[A-Z]{3}$")
    buy_currency: str = Field(pattern=r"^[A-Z]{3}$")
    amount_minor: int = Field(gt=0)
    amount_currency: str = Field(pattern=r"^[A-Z]{3}$")
    at: datetime


class BatchIn(BaseModel):
    quotes: list[QuoteIn] = Field(max_length=BATCH_MAX)


def _answer(desk: Desk, asked: QuoteIn) -> dict:
    sell, buy = asked.sell_currency, asked.buy_currency
    if sell not in MID_CNY or buy not in MID_CNY or sell == buy or asked.amount_currency not in (sell, buy):
        return {"desk": desk.code, "refused": "pair_not_supported"}
    spread = spread_bps(desk, usd_size(asked.amount_currency, asked.amount_minor), asked.at)
    if spread is None:
        return {"desk": desk.code, "refused": "below_min_ticket"}
    return {"desk": desk.code, "mid": str(mid_rate(sell, buy)), "rate": str(dealing_rate(sell, buy, spread)),
            "spread_bps": spread}


def app() -> FastAPI:
    served = FastAPI(title="FX desks sandbox")

    @served.get("/desks")
    def desks() -> list[dict]:
        return [{"code": d.code, "name": d.name, "min_usd": d.min_usd} for d in DESKS]

    @served.post("/quotes")
    def quotes(body: BatchIn) -> dict:
        """Every desk's quote for each request, in order: [[desk answers] per request]."""
        return {"quotes": [[_answer(d, q) for d in DESKS] for q in body.quotes]}

    @served.post("/desks/{code}/quotes")
    def one(code: str, body: QuoteIn) -> dict:
        desk = next((d for d in DESKS if d.code == code), None)
        if desk is None:
            raise HTTPException(404, f"no desk {code}")
        return _answer(desk, body)

    return served


def start() -> ServerThread:
    server = ServerThread(app())
    server.server.config.lifespan = "off"  # nothing to start up; and stopping then logs no cancelled lifespan
    return server.start()


@dataclass(frozen=True, slots=True)
class DeskQuote:
    desk: str
    mid: Decimal
    rate: Decimal  # buy units per sell unit, spread included
    spread_bps: int


def ask_all(base_url: str, requests: list[dict], timeout_s: float = 30.0) -> list[list[DeskQuote]]:
    """Each request's quotes from every desk that deals it, in the order asked (batches of BATCH_MAX)."""
    found: list[list[DeskQuote]] = []
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        for start_at in range(0, len(requests), BATCH_MAX):
            batch = [{**r, "at": r["at"].isoformat()} for r in requests[start_at:start_at + BATCH_MAX]]
            response = client.post("/quotes", json={"quotes": batch})
            response.raise_for_status()
            found += [[DeskQuote(a["desk"], Decimal(a["mid"]), Decimal(a["rate"]), a["spread_bps"])
                       for a in answers if "refused" not in a] for answers in response.json()["quotes"]]
    return found


_started: dict[str, ServerThread] = {}
_lock = threading.Lock()


def desks_url(configured: str | None, channel_mode: str) -> str | None:
    """The desks Juhe asks: the configured ones (JUHE_FX_DESKS_URL), or with channels in sandbox mode
    this sandbox, started once per process on localhost."""
    if configured:
        return configured
    if channel_mode != "sandbox":
        return None
    with _lock:
        if "desks" not in _started:
            _started["desks"] = start()
        return _started["desks"].base_url
