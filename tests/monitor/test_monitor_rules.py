"""The pure rules of the monitor: rule parameters per kind, owners, rate arithmetic,
incident transitions and deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from juhe.monitor.detect import is_rate_drop
from juhe.monitor.figures import asset_balance, liability_balance, rate_bps, success_rate
from juhe.monitor.incidents import check_comment, check_transition, is_overdue
from juhe.monitor.rules import KINDS, MonitorError, check_owner, check_params, check_response_hours

BURST = {"currency": "CNY", "min_amount_minor": 5_000_000, "min_count": 3, "window_minutes": 60}


def refusal(call, *args) -> MonitorError:
    with pytest.raises(MonitorError) as caught:
        call(*args)
    return caught.value


def test_valid_params_are_returned_as_given():
    assert check_params("large_high_frequency_transfers", BURST) == BURST
    rate = {"window_minutes": 15, "floor_bps": 9000, "min_sample": 20, "channel": "alipay"}
    assert check_params("success_rate_drop", rate) == rate
    assert check_params("success_rate_drop", {k: v for k, v in rate.items() if k != "channel"})["floor_bps"] == 9000


def test_raised_kinds_take_no_params():
    for kind in ("recon_difference", "reserve_mismatch", "settlement_failure"):
        assert check_params(kind, {}) == {}
        assert refusal(check_params, kind, {"threshold": 1}).code == "invalid_rule_params"


def test_unknown_kind_has_its_own_code():
    error = refusal(check_params, "weather_alert", {})
    assert error.code == "unknown_rule_kind" and error.status == 422
    assert all(kind in str(error) for kind in KINDS)


def test_every_problem_in_params_is_reported_at_once():
    error = refusal(check_params, "large_high_frequency_transfers",
                    {"currency": "XXY", "min_amount_minor": "5000", "min_count": True, "surprise": 1})
    assert error.code == "invalid_rule_params"
    by_field = {e["field"]: e["message"] for e in error.errors}
    assert set(by_field) == {"currency", "min_amount_minor", "min_count", "window_minutes", "surprise"}
    assert "integer" in by_field["min_count"]  # true is not a count
    assert by_field["window_minutes"] == "required"


def test_params_outside_their_bounds_are_refused():
    for bad in ({**BURST, "min_count": 1}, {**BURST, "window_minutes": 0}, {**BURST, "window_minutes": 24 * 60 + 1},
                {**BURST, "min_amount_minor": 0}):
        assert refusal(check_params, "large_high_frequency_transfers", bad).code == "invalid_rule_params"
    too_high = {"window_minutes": 15, "floor_bps": 10_001, "min_sample": 5}
    expected = [{"field": "floor_bps", "message": "must be between 1 and 10000"}]
    assert refusal(check_params, "success_rate_drop", too_high).errors == expected
    unknown_channel = {"window_minutes": 15, "floor_bps": 9000, "min_sample": 5, "channel": "paypal"}
    assert refusal(check_params, "success_rate_drop", unknown_channel).errors[0]["field"] == "channel"
    assert refusal(check_params, "success_rate_drop", ["not", "an", "object"]).code == "invalid_rule_params"


def test_owner_is_a_role_or_a_user_label():
    assert check_owner("role:risk") == "role:risk"
    assert check_owner("user:zhang.wei") == "user:zhang.wei"
    for bad in ("risk", "role:cashier", "user:", "user:two words", ""):
        assert refusal(check_owner, bad).code == "invalid_owner"


def test_response_hours_are_whole_and_bounded():
    assert check_response_hours(4) == 4
    for bad in (0, 24 * 30 + 1, 1.5, True):
        assert refusal(check_response_hours, bad).code == "invalid_response_hours"


def test_success_rate_counts_only_finished_payments():
    assert success_rate(9, 1, 0) == Decimal("0.9000")
    assert success_rate(1, 1, 1) == Decimal("0.3333")
    assert success_rate(0, 0, 0) is None


def test_rate_drop_needs_the_minimum_sample_and_is_exact_at_the_floor():
    assert is_rate_drop(2, 8, 0, floor_bps=9000, min_sample=10)
    assert not is_rate_drop(2, 7, 0, floor_bps=9000, min_sample=10)  # 9 finished: too few to judge
    assert not is_rate_drop(9, 1, 0, floor_bps=9000, min_sample=10)  # exactly at the floor is not below it
    assert is_rate_drop(8, 1, 1, floor_bps=9000, min_sample=10)  # closed orders count against the channel


def test_fee_rate_in_basis_points():
    assert rate_bps(38, 10_000) == Decimal("38.00")
    assert rate_bps(1, 3) == Decimal("3333.33")
    assert rate_bps(5, 0) is None


def test_balances_in_the_normal_direction_with_outgoing_holds():
    assert liability_balance(debits_posted=100, credits_posted=1_000, debits_pending=300) == (900, 300, 600)
    assert asset_balance(debits_posted=1_000, credits_posted=100, credits_pending=250) == (900, 250, 650)


def test_incidents_move_open_acknowledged_resolved_only():
    check_transition("open", "acknowledged")
    check_transition("acknowledged", "resolved")
    for current, wanted in (("open", "resolved"), ("acknowledged", "open"), ("resolved", "acknowledged"), ("open", "open")):
        error = refusal(check_transition, current, wanted)
        assert error.code == "illegal_transition" and error.status == 409
        assert error.extra == {"current_status": current, "wanted_status": wanted}


def test_resolving_needs_a_comment():
    assert refusal(check_comment, "resolved", "   ").code == "comment_required"
    assert check_comment("acknowledged", "") == ""
    assert refusal(check_comment, "acknowledged", "x" * 2001).code == "invalid_comment"


def test_overdue_is_past_the_deadline_and_unresolved():
    due = datetime(2026, 11, 26, 10, tzinfo=timezone.utc)
    assert not is_overdue("open", due, due)
    assert is_overdue("open", due, due + timedelta(seconds=1))
    assert is_overdue("acknowledged", due, due + timedelta(hours=1))
    assert not is_overdue("resolved", due, due + timedelta(days=3))
