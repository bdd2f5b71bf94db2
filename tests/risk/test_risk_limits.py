"""Password-free limits: down at once on risk, up slowly on good history, always within bounds."""

from __future__ import annotations

import pytest

from juhe.risk.facts import RiskError
from juhe.risk.limits import PasswordFreeLimits, PayerLimit

LIMITS = PasswordFreeLimits()  # CNY: floor 50.00, start 500.00, ceiling 2,000.00, +10 % per 20 good payments


def good(limit: PayerLimit, times: int) -> PayerLimit:
    for _ in range(times):
        limit = LIMITS.after(limit, "good_payment")
    return limit


def test_a_new_payer_starts_at_the_start_limit():
    start = LIMITS.start()
    assert start == PayerLimit(50_000, "CNY", 0)
    assert LIMITS.allows(start, 50_000, "CNY") and not LIMITS.allows(start, 50_001, "CNY")
    assert not LIMITS.allows(start, 100, "USD") and not LIMITS.allows(start, 0, "CNY")


def test_twenty_good_payments_raise_the_limit_by_ten_percent():
    assert good(LIMITS.start(), 19) == PayerLimit(50_000, "CNY", 19)
    assert good(LIMITS.start(), 20) == PayerLimit(55_000, "CNY", 0)
    assert good(LIMITS.start(), 40).limit_minor == 60_500


def test_the_limit_never_passes_the_ceiling():
    assert good(LIMITS.start(), 20 * 40).limit_minor == 200_000


def test_risk_signals_lower_at_once_and_restart_the_streak():
    streaking = good(LIMITS.start(), 15)
    assert LIMITS.after(streaking, "step_up") == PayerLimit(25_000, "CNY", 0)
    assert LIMITS.after(streaking, "verification_failed") == PayerLimit(12_500, "CNY", 0)
    assert LIMITS.after(streaking, "block") == PayerLimit(5_000, "CNY", 0)


def test_the_limit_never_drops_below_the_floor_and_stays_in_whole_yuan():
    limit = LIMITS.start()
    for _ in range(10):
        limit = LIMITS.after(limit, "step_up")
    assert limit.limit_minor == 5_000
    odd = PasswordFreeLimits(start_minor=33_333, floor_minor=100)
    assert odd.after(odd.start(), "step_up").limit_minor == 16_600


def test_recovery_after_a_block_is_slow():
    limit = LIMITS.after(LIMITS.start(), "block")
    limit = good(limit, 100)  # five raises of 10 % from the floor
    # 50.00 → 55.00 → 60.00 (60.50 rounded down to whole yuan) → 66.00 → 72.00 → 79.00
    assert limit.limit_minor == 7_900


def test_bad_signals_currencies_and_policies_are_refused():
    with pytest.raises(RiskError) as caught:
        LIMITS.after(LIMITS.start(), "chargeback")
    assert caught.value.code == "unknown_signal"
    with pytest.raises(RiskError) as caught:
        LIMITS.after(PayerLimit(10_000, "USD"), "good_payment")
    assert caught.value.code == "currency_mismatch"
    for bad in ({"floor_minor": 60_000}, {"start_minor": 300_000}, {"raise_after_good": 0}, {"step_up_keep_bps": 10_000},
                {"failed_keep_bps": 6_000}):
        with pytest.raises(RiskError) as caught:
            PasswordFreeLimits(**bad)
        assert caught.value.code == "bad_limits"
