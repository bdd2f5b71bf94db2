"""Reserve and investment advice (资金规划) from a merchant's cash-flow forecast.

The reserve is what the forecast's 95 % worst case of cumulative net outflow (payouts, settlement,
refunds and supplier batches less sales) needs: the balance now less the lowest the 95 % interval of
the balance forecast reaches. The balance is forecast as a series of its own because the flows are
not independent (a T+1 payout is yesterday's takings): summing each day's worst case would reserve a
quarter of sales that never leaves at once. What the worst case leaves untouched for a product's whole
term can be placed for that term, the longest term first; what it touches within a week stays as cash;
a worst case below zero is warned of with the day it would run short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from juhe.treasury.forecast import Forecast, ForecastError

CASH_DAYS = 7  # a week of worst case stays in the account: next-day needs cannot wait for a redemption


@dataclass(frozen=True, slots=True)
class Product:
    code: str
    name: str
    term_days: int  # the money is back (or redeemable) after this many days
    rate: Decimal  # annual, simple interest on an actual/365 basis


PRODUCTS = (  # the longest first: advice fills the longest term the worst case allows
    Product("deposit_3m", "3-month time deposit (定期存款)", 91, Decimal("0.0125")),
    Product("deposit_1m", "1-month time deposit", 30, Decimal("0.0105")),
    Product("money_fund", "money market fund (货币基金), redeemable next day", 1, Decimal("0.0150")),
)


class AdviceError(ForecastError):
    """Refused advice, with its stable code; one kind with a refused forecast, so callers catch both at once."""


def products(rates: dict[str, Decimal] | None = None) -> tuple[Product, ...]:
    """The products at the configured annual rates (JUHE_TREASURY_RATES), the defaults elsewhere."""
    rates = rates or {}
    unknown = sorted(set(rates) - {p.code for p in PRODUCTS})
    if unknown:
        raise AdviceError("unknown_product", f"no product {', '.join(unknown)}; known: {', '.join(p.code for p in PRODUCTS)}")
    for code, rate in rates.items():
        if not Decimal("0") <= Decimal(rate) < Decimal("1"):
            raise AdviceError("bad_rate", f"{code}: an annual rate is a fraction from 0 to 1, not {rate}")
    return tuple(Product(p.code, p.name, p.term_days, Decimal(rates.get(p.code, p.rate))) for p in PRODUCTS)


def floors(balance: Forecast) -> list[int]:
    """Day by day, the lowest the balance may fall to by then (the 95 % interval's lower bound), in minor units."""
    out, low = [], math.inf
    for value in balance.bounds["lo-95"]:
        low = min(low, value)
        out.append(int(math.floor(low)))
    return out


def advise(balance_minor: int, currency: str, balance: Forecast, today: date,
           catalogue: tuple[Product, ...] = PRODUCTS, unswept: Forecast | None = None) -> dict:
    """What to keep, what to place for how long and what it yields, from the balance's forecast.

    The warning reads `unswept` where given (the low balance had payouts taken nothing): a payout takes what
    is there, so a balance swept to zero is nothing to spare, not a shortfall; a refund or a supplier batch
    the money cannot meet is."""
    if not balance.mean:
        raise AdviceError("no_forecast", "the balance forecast covers no day")
    floor = floors(balance)
    horizon = len(floor)
    placements, placed = [], 0
    for product in catalogue:
        if product.term_days > horizon:
            continue  # beyond what the forecast can vouch for
        free = min(balance_minor, floor[max(product.term_days, CASH_DAYS) - 1]) - placed
        if free > 0:
            placements.append(_placement(product, free))
            placed += free
    return {
        "currency": currency, "as_of": today.isoformat(), "balance_minor": balance_minor,
        "reserve_needed_minor": max(0, balance_minor - max(0, floor[-1])), "reserve_cash_days": CASH_DAYS,
        "cash_kept_minor": balance_minor - placed, "placements": placements,
        "expected_yield_minor": sum(p["expected_yield_minor"] for p in placements),
        "idle_before_minor": max(0, balance_minor), "idle_after_minor": max(0, balance_minor - placed),
        "idle_reduction": round(placed / balance_minor, 4) if balance_minor > 0 else 0.0,
        "warning": _warning(floors(unswept) if unswept else floor, unswept or balance),
    }


def _placement(product: Product, amount_minor: int) -> dict:
    interest = Decimal(amount_minor) * product.rate * product.term_days / 365
    return {"product": product.code, "name": product.name, "amount_minor": amount_minor,
            "term_days": product.term_days, "annual_rate": str(product.rate),
            "expected_yield_minor": int(interest.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))}


def _warning(floor: list[int], balance: Forecast) -> dict | None:
    """The first day the worst case would take the balance below zero: early, not on the day."""
    for i, low in enumerate(floor):
        if low < 0:
            return {"code": "reserve_shortfall", "date": balance.days[i].isoformat() if balance.days else None,
                    "days_ahead": i + 1, "shortfall_minor": -low,
                    "message": f"the 95 % worst case needs {-low} more minor units by day {i + 1}"}
    return None


def merchant_advice(db, merchant_id, today: date, rates: dict[str, Decimal] | None = None,
                    models: tuple[str, ...] | None = None) -> list[dict]:
    """Per currency, the advice on the merchant's payables from its own forecast."""
    from juhe.treasury.forecast_ledger import merchant_forecasts

    catalogue = products(rates)
    return [advise(flows.balance_minor, flows.currency, forecasts["balance"], today, catalogue, forecasts["unswept"])
            for flows, forecasts in merchant_forecasts(db, merchant_id, today, models)]
