"""The pure rules: anchors and periods as Stripe Billing counts them, the four price models,
proration fractions, coupons."""

from __future__ import annotations

from datetime import datetime, timezone
from fractions import Fraction
from types import SimpleNamespace

import pytest

from juhe.subscriptions import cycles, pricing
from juhe.subscriptions.service import anchor_at


def at(y, m, d, h=2):
    return datetime(y, m, d, h, tzinfo=timezone.utc)


def test_an_anchor_on_the_31st_bills_the_last_day_of_shorter_months():
    anchor = at(2026, 1, 31)
    assert [cycles.boundary(anchor, "month", k) for k in range(4)] == [at(2026, 1, 31), at(2026, 2, 28), at(2026, 3, 31), at(2026, 4, 30)]
    assert cycles.period_at(anchor, "month", at(2026, 3, 5)) == (at(2026, 2, 28), at(2026, 3, 31))
    assert cycles.boundary(at(2024, 2, 29), "year", 1) == at(2025, 2, 28)


def test_an_anchor_day_is_dated_in_a_month_that_has_it():
    assert anchor_at(at(2026, 2, 10), 31) == at(2026, 1, 31)
    assert anchor_at(at(2026, 2, 10), 15) == at(2026, 2, 15)
    assert anchor_at(at(2026, 2, 10), None) == at(2026, 2, 10)


def test_a_start_off_the_anchor_bills_a_short_first_period_in_proportion():
    anchor = anchor_at(at(2026, 4, 16), 1)  # subscribe on 16 April, bill on the 1st
    start, end = cycles.first_period(at(2026, 4, 16), anchor, "month")
    assert (start, end) == (at(2026, 4, 16), at(2026, 5, 1))
    assert cycles.fraction_of(start, end, anchor, "month") == Fraction(15, 30)


def test_the_four_price_models():
    tiers = ({"up_to": 10, "unit_amount_minor": 1000}, {"up_to": 50, "unit_amount_minor": 800}, {"up_to": None, "unit_amount_minor": 500})
    assert pricing.period_fee_minor(pricing.Pricing.from_json({"model": "fixed", "unit_amount_minor": 9900}), 7) == 9900
    assert pricing.period_fee_minor(pricing.Pricing.from_json({"model": "per_seat", "unit_amount_minor": 3000}), 7) == 21000
    tiered = pricing.Pricing.from_json({"model": "tiered", "tiers": tiers})
    assert pricing.period_fee_minor(tiered, 60) == 10 * 1000 + 40 * 800 + 10 * 500
    metered = pricing.Pricing.from_json({"model": "metered", "unit_amount_minor": 2})
    assert pricing.period_fee_minor(metered, 1) == 0 and pricing.usage_minor(metered, 12_345) == 24_690
    for bad in ({"model": "flat"}, {"model": "tiered"}, {"model": "tiered", "tiers": [{"up_to": 5, "unit_amount_minor": 1}]},
                {"model": "fixed", "unit_amount_minor": -1}):
        with pytest.raises(pricing.PricingError):
            pricing.Pricing.from_json(bad)


def test_coupons_never_discount_more_than_the_subtotal():
    assert pricing.discount_minor(SimpleNamespace(percent_off=20, amount_off_minor=0), 9999) == 2000
    assert pricing.discount_minor(SimpleNamespace(percent_off=0, amount_off_minor=5000), 3000) == 3000
    assert pricing.discount_minor(None, 3000) == 0
