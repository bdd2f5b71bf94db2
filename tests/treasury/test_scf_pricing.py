"""Pricing an early payment, worked by hand: discount on face actual/360, APR on what the supplier
gets actual/365, the market's cost of the same money for the same days."""

from __future__ import annotations

import pytest

from juhe.scf.pricing import REVERSE_FACTORING, cost_summary, price, reverse_factoring_rate_bps


def test_a_reverse_factoring_offer_prices_the_buyers_credit():
    rate = reverse_factoring_rate_bps(310, 80, 250)
    assert rate == 640
    offer = price(REVERSE_FACTORING, "icbc", 11_300_000, 90, rate, 10, 1000)
    # 113,000.00 × 6.40 % × 90/360 = 1,808.00; fee 0.10 % = 113.00
    assert (offer.discount_minor, offer.fee_minor, offer.net_minor) == (180_800, 11_300, 11_107_900)
    # (1,921.00 / 111,079.00) × 365/90 = 7.0136 %
    assert offer.apr_bps == 701
    # 111,079.00 × 10 % × 90/365 = 2,738.93
    assert offer.market_cost_minor == 273_893
    assert float(offer.saving) == pytest.approx(1 - 192_100 / 273_893)


def test_amounts_round_once_half_up():
    offer = price(REVERSE_FACTORING, "x", 101, 1, 3600, 50, 1000)  # 101 × 36 % / 360 = 0.101 → 0; fee 0.505 → 1
    assert (offer.discount_minor, offer.fee_minor, offer.net_minor) == (0, 1, 100)


@pytest.mark.parametrize("amount, days, rate, fee", [(0, 30, 500, 0), (100, 0, 500, 0), (100, 30, -1, 0), (100, 30, 0, -1)])
def test_nonsense_is_not_priced(amount, days, rate, fee):
    with pytest.raises(ValueError):
        price(REVERSE_FACTORING, "x", amount, days, rate, fee, 1000)


def test_fees_that_eat_the_face_are_not_an_offer():
    with pytest.raises(ValueError, match="leave nothing"):
        price(REVERSE_FACTORING, "x", 100, 30, 0, 10_000, 1000)


def test_the_summary_compares_total_cost_with_the_market():
    offers = [price(REVERSE_FACTORING, "a", 1_000_000, 60, 600, 0, 1000), price(REVERSE_FACTORING, "b", 2_000_000, 30, 700, 0, 1000)]
    summary = cost_summary(offers)
    assert summary["cost_minor"] == 10_000 + 11_667
    assert summary["market_cost_minor"] == sum(o.market_cost_minor for o in offers)
    assert summary["saving"] == round(1 - summary["cost_minor"] / summary["market_cost_minor"], 4)
    assert cost_summary([])["saving"] == 0.0
