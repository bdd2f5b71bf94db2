"""The schedule of an installment purchase, as the payer is shown it before paying: pure functions.

The fee is quoted the way Chinese card issuers and Huabei quote it, a rate per period on the
principal (每期手续费率): fee = principal × rate × periods, rounded half up to the fen. Principal
and fee are each split over the periods with Money.allocate, so the periods add up to the totals
exactly. When the merchant bears the fee (免息), the payer repays the principal only and the fee
is taken from the merchant's proceeds. The APR is the yearly rate at which the payer's repayments
are worth the principal today (the IRR method regulators ask lenders to quote), as a fraction."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from juhe.money import Money

BEARERS = ("payer", "merchant")
APR_BISECTION_STEPS = 60  # halves [0, 10] per step: 60 steps pin it far below a basis point
APR_MONTHLY_MAX = Fraction(10)
APR_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Period:
    number: int
    due_on: date
    principal: Money
    fee: Money  # what the payer pays in fees this period (zero when the merchant bears them)

    @property
    def amount(self) -> Money:
        return self.principal + self.fee

    def as_json(self) -> dict:
        return {"period": self.number, "due_on": self.due_on.isoformat(), "principal": self.principal.to_json(),
                "fee": self.fee.to_json(), "amount": self.amount.to_json()}


@dataclass(frozen=True, slots=True)
class Quote:
    principal: Money
    periods: int
    fee_rate_per_period: Decimal
    bearer: str
    fee: Money  # the whole fee of the term
    payer_fee: Money
    merchant_fee: Money
    apr: Decimal  # payer's effective yearly rate, 0.1287 = 12.87 %
    schedule: tuple[Period, ...]

    @property
    def payer_total(self) -> Money:
        return self.principal + self.payer_fee

    def as_json(self) -> dict:
        return {
            "principal": self.principal.to_json(), "periods": self.periods,
            "fee_rate_per_period": str(self.fee_rate_per_period), "fee_bearer": self.bearer, "fee": self.fee.to_json(),
            "payer_fee": self.payer_fee.to_json(), "merchant_fee": self.merchant_fee.to_json(),
            "payer_total": self.payer_total.to_json(), "per_period": self.schedule[0].amount.to_json(),
            "apr": str(self.apr), "schedule": [p.as_json() for p in self.schedule],
        }


def quote(principal: Money, periods: int, fee_rate_per_period: Decimal, bearer: str, first_day: date) -> Quote:
    assert principal.amount_minor > 0 and periods > 0 and bearer in BEARERS, (principal, periods, bearer)
    fee = Money(_half_up(principal.amount_minor * Fraction(fee_rate_per_period) * periods), principal.currency)
    payer_fee, merchant_fee = (fee, Money.zero(fee.currency)) if bearer == "payer" else (Money.zero(fee.currency), fee)
    principals = principal.allocate([1] * periods)
    fees = payer_fee.allocate([1] * periods) if payer_fee.amount_minor else [payer_fee] * periods
    schedule = tuple(Period(i + 1, add_months(first_day, i + 1), principals[i], fees[i]) for i in range(periods))
    assert sum(p.amount.amount_minor for p in schedule) == principal.amount_minor + payer_fee.amount_minor
    return Quote(principal, periods, fee_rate_per_period, bearer, fee, payer_fee, merchant_fee,
                 apr(principal.amount_minor, [p.amount.amount_minor for p in schedule]), schedule)


def apr(principal_minor: int, repayments_minor: list[int]) -> Decimal:
    """12 × the monthly rate r with Σ repayment_i / (1 + r)^i = principal (0 when nothing is charged)."""
    if sum(repayments_minor) <= principal_minor:
        return Decimal(0).quantize(APR_PLACES)

    def worth(rate: Fraction) -> Fraction:
        return sum((Fraction(amount) / (1 + rate) ** (i + 1) for i, amount in enumerate(repayments_minor)), Fraction(0))

    low, high = Fraction(0), APR_MONTHLY_MAX
    for _ in range(APR_BISECTION_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if worth(middle) > principal_minor else (low, middle)
        # Fractions grow with each step; a float-free limit on their size keeps this fast.
        low, high = low.limit_denominator(10**12), high.limit_denominator(10**12)
    yearly = Decimal(((low + high) / 2 * 12).numerator) / Decimal(((low + high) / 2 * 12).denominator)
    return yearly.quantize(APR_PLACES)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day (31 Jan + 1 month = 28/29 Feb)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _half_up(exact: Fraction) -> int:
    return (exact.numerator * 2 + exact.denominator) // (2 * exact.denominator)
