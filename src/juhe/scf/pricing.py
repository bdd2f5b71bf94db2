"""Pricing an early payment of a receivable: pure functions over integers.

The discount is taken on the face financed, actual/360, as Chinese bill discounting (贴现) counts
it; the APR is what that costs the supplier on the money it actually gets, actual/365, so that
offers of different days, rates and fees compare on one number. Amounts round once, half up.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

BPS = 10_000
DISCOUNT_DAY_BASIS = 360
APR_DAY_BASIS = 365
REVERSE_FACTORING = "reverse_factoring"
DYNAMIC_DISCOUNTING = "dynamic_discounting"


@dataclass(frozen=True, slots=True)
class Offer:
    kind: str
    funder_code: str | None  # none: the buyer pays early from its own cash
    amount_minor: int  # the face financed
    days: int  # to maturity
    rate_bps: int  # discount rate on face, a year of 360 days
    discount_minor: int
    fee_minor: int
    net_minor: int  # paid to the supplier now
    apr_bps: int
    market_cost_minor: int  # what the same money for the same days costs at the market APR

    @property
    def cost_minor(self) -> int:
        return self.discount_minor + self.fee_minor

    @property
    def saving(self) -> Fraction:
        """How much cheaper than the market: 0.15 is 15 % less."""
        return 1 - Fraction(self.cost_minor, self.market_cost_minor) if self.market_cost_minor else Fraction(0)


def half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


def price(kind: str, funder_code: str | None, amount_minor: int, days: int, rate_bps: int, fee_bps: int,
          market_apr_bps: int) -> Offer:
    if amount_minor <= 0 or days <= 0 or rate_bps < 0 or fee_bps < 0:
        raise ValueError(f"cannot price {amount_minor} for {days} days at {rate_bps}+{fee_bps} bps")
    discount = half_up(Fraction(amount_minor * rate_bps * days, BPS * DISCOUNT_DAY_BASIS))
    fee = half_up(Fraction(amount_minor * fee_bps, BPS))
    net = amount_minor - discount - fee
    if net <= 0:
        raise ValueError(f"{discount + fee} of discount and fees leave nothing of {amount_minor}")
    apr = half_up(Fraction((discount + fee) * BPS * APR_DAY_BASIS, net * days))
    return Offer(kind, funder_code, amount_minor, days, rate_bps, discount, fee, net, apr,
                 market_cost_minor(net, days, market_apr_bps))


def market_cost_minor(net_minor: int, days: int, market_apr_bps: int) -> int:
    """What the supplier would pay for the same money for the same days on its own credit."""
    return half_up(Fraction(net_minor * market_apr_bps * days, BPS * APR_DAY_BASIS))


def reverse_factoring_rate_bps(base_rate_bps: int, buyer_spread_bps: int, funder_margin_bps: int) -> int:
    """The funder prices the buyer's credit, not the supplier's: that is where the saving comes from."""
    return base_rate_bps + buyer_spread_bps + funder_margin_bps


def cost_summary(offers: list[Offer]) -> dict:
    """Financing cost against the market rate over many financings, as the report shows it."""
    cost = sum(o.cost_minor for o in offers)
    market = sum(o.market_cost_minor for o in offers)
    financed = sum(o.amount_minor for o in offers)
    return {"financings": len(offers), "financed_minor": financed, "cost_minor": cost, "market_cost_minor": market,
            "saving_minor": market - cost, "saving": round(float(1 - Fraction(cost, market)), 4) if market else 0.0}
