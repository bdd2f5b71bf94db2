"""Advice: the reserve from the 95 % worst case of the balance, placements by term with their yield, early warnings."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from juhe.treasury.advice import AdviceError, advise, floors, products
from juhe.treasury.forecast import Forecast

TODAY = date(2026, 3, 2)


def balance_forecast(lows: list[float]) -> Forecast:
    """A balance forecast whose 95 % interval reaches down to `lows`, day by day (mean and top above them)."""
    days = tuple(TODAY + timedelta(days=i + 1) for i in range(len(lows)))
    mean = tuple(low + 1_000 for low in lows)
    return Forecast("CNY:balance", "AutoETS", days, mean,
                    {"lo-80": tuple(low + 500 for low in lows), "hi-80": tuple(m + 500 for m in mean),
                     "lo-95": tuple(lows), "hi-95": tuple(m + 1_000 for m in mean)})


def test_the_floor_is_the_lowest_the_interval_has_reached_by_each_day():
    assert floors(balance_forecast([500.4, 300.9, 800, -20.5, 400])) == [500, 300, 300, -21, -21]


def test_a_float_the_quarter_never_touches_goes_to_the_three_month_deposit_with_its_yield():
    # 2,000,000 held; the worst case of every day over 91 days keeps at least 1,200,000 of it.
    advice = advise(2_000_000, "CNY", balance_forecast([1_200_000] * 91), TODAY)
    [deposit] = advice["placements"]
    assert deposit["product"] == "deposit_3m" and deposit["amount_minor"] == 1_200_000 and deposit["term_days"] == 91
    # 1,200,000 × 1.25 % × 91 / 365 = 3,739.726… → 3,740 minor units, rounded half-even once
    assert deposit["expected_yield_minor"] == 3_740 == int((Decimal(1_200_000) * Decimal("0.0125") * 91 / 365)
                                                           .quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert advice["reserve_needed_minor"] == 800_000 and advice["cash_kept_minor"] == 800_000
    assert (advice["idle_before_minor"], advice["idle_after_minor"], advice["idle_reduction"]) == (2_000_000, 800_000, 0.6)
    assert advice["warning"] is None


def test_a_falling_floor_is_laddered_into_shorter_terms():
    # The worst case keeps 900,000 for the first week, 600,000 to day 30 and 100,000 to day 91.
    lows = [900_000] * 7 + [600_000] * 23 + [100_000] * 61
    advice = advise(1_000_000, "CNY", balance_forecast(lows), TODAY)
    placed = {p["product"]: p["amount_minor"] for p in advice["placements"]}
    assert placed == {"deposit_3m": 100_000, "deposit_1m": 500_000, "money_fund": 300_000}
    assert sum(placed.values()) + advice["cash_kept_minor"] == 1_000_000
    assert advice["expected_yield_minor"] == sum(p["expected_yield_minor"] for p in advice["placements"])
    assert all(isinstance(p["expected_yield_minor"], int) for p in advice["placements"])


def test_a_worst_case_below_zero_is_warned_of_weeks_ahead_and_nothing_is_placed_past_it():
    lows = [50_000 - 1_000 * i for i in range(91)]  # the balance may drain 1,000 a day: below zero on day 51
    advice = advise(60_000, "CNY", balance_forecast(lows), TODAY)
    warning = advice["warning"]
    assert (warning["code"], warning["days_ahead"], warning["shortfall_minor"]) == ("reserve_shortfall", 52, 1_000)
    assert warning["date"] == (TODAY + timedelta(days=52)).isoformat()
    # 21,000 is safe for 30 days and 44,000 for a week; nothing for 91 days
    assert {p["product"]: p["amount_minor"] for p in advice["placements"]} == {"deposit_1m": 21_000, "money_fund": 23_000}
    assert advice["reserve_needed_minor"] == 60_000


def test_a_balance_swept_to_zero_by_payouts_is_nothing_to_spare_not_a_shortfall():
    swept = balance_forecast([-5_000.0] * 91)  # the low touches zero (and below, by its band) every payout morning
    unswept = balance_forecast([40_000.0] * 91)  # had the payouts taken nothing, refunds and suppliers are met
    advice = advise(30_000, "CNY", swept, TODAY, unswept=unswept)
    assert advice["placements"] == [] and advice["warning"] is None
    short = advise(30_000, "CNY", swept, TODAY, unswept=balance_forecast([40_000.0] * 20 + [-1_000.0] * 71))
    assert (short["warning"]["days_ahead"], short["warning"]["shortfall_minor"]) == (21, 1_000)


def test_configured_rates_replace_the_defaults_and_bad_ones_are_refused():
    assert {p.code: p.rate for p in products({"money_fund": Decimal("0.02")})}["money_fund"] == Decimal("0.02")
    advice = advise(1_000_000, "CNY", balance_forecast([1_000_000] * 91), TODAY,
                    products({"deposit_3m": Decimal("0.02")}))
    assert advice["placements"][0]["annual_rate"] == "0.02" and advice["expected_yield_minor"] == 4_986
    with pytest.raises(AdviceError) as error:
        products({"crypto": Decimal("0.3")})
    assert error.value.code == "unknown_product"
    with pytest.raises(AdviceError) as error:
        products({"deposit_3m": Decimal("1.5")})
    assert error.value.code == "bad_rate"


def test_an_empty_forecast_is_refused():
    with pytest.raises(AdviceError) as error:
        advise(1_000, "CNY", balance_forecast([]), TODAY)
    assert error.value.code == "no_forecast"
