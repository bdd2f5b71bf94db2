"""Fee schedules: exact integer pricing (half up), bands, volumes, and validation of definitions."""

from __future__ import annotations

import pytest

from juhe.settlement.fees import FeeScheduleError, fee_minor, parse_schedule, schedule_definition


def test_percentage_rounds_half_up_to_the_fen():
    schedule = parse_schedule({"kind": "percentage", "rate_bps": 50})
    assert fee_minor(schedule, 100) == 1  # 0.5 fen → 1 (half to even would give 0)
    assert fee_minor(schedule, 99) == 0  # 0.495 fen → 0
    assert fee_minor(schedule, 300) == 2  # 1.5 → 2
    assert fee_minor(parse_schedule({"kind": "percentage", "rate_bps": 60}), 123_456_789) == 740_741  # 740,740.734
    assert fee_minor(schedule, 0) == 0


def test_percentage_is_kept_within_its_minimum_and_maximum():
    schedule = parse_schedule({"kind": "percentage", "rate_bps": 60, "min_minor": 10, "max_minor": 2_500})
    assert fee_minor(schedule, 100) == 10
    assert fee_minor(schedule, 100_000) == 600
    assert fee_minor(schedule, 10_000_000) == 2_500


def test_fixed_fee_per_item():
    assert fee_minor(parse_schedule({"kind": "fixed", "amount_minor": 30}), 1) == 30
    assert fee_minor(parse_schedule({"kind": "fixed", "amount_minor": 30}), 99_999_999) == 30


def test_amount_bands_price_the_whole_payment_by_its_band_inclusive_upper_bounds():
    schedule = parse_schedule({"kind": "tiered", "basis": "amount", "tiers": [
        {"up_to_minor": 10_000, "rate_bps": 0, "fixed_minor": 20},
        {"up_to_minor": 1_000_000, "rate_bps": 60},
        {"up_to_minor": None, "rate_bps": 40, "max_minor": 50_000},
    ]})
    assert fee_minor(schedule, 10_000) == 20
    assert fee_minor(schedule, 10_001) == 60
    assert fee_minor(schedule, 1_000_000) == 6_000
    assert fee_minor(schedule, 1_000_001) == 4_000
    assert fee_minor(schedule, 500_000_000) == 50_000


def test_month_volume_tiers_use_the_volume_before_the_payment():
    schedule = parse_schedule({"kind": "tiered", "basis": "month_volume", "tiers": [
        {"up_to_minor": 100_000_00, "rate_bps": 60}, {"up_to_minor": None, "rate_bps": 45}]})
    assert fee_minor(schedule, 10_000, month_volume_minor=0) == 60
    assert fee_minor(schedule, 10_000, month_volume_minor=100_000_00) == 60  # at the threshold: still the first band
    assert fee_minor(schedule, 10_000, month_volume_minor=100_000_01) == 45


def test_definition_round_trips_to_its_canonical_form():
    definition = {"kind": "tiered", "basis": "amount", "tiers": [
        {"up_to_minor": 100, "rate_bps": 0, "fixed_minor": 5}, {"up_to_minor": None, "rate_bps": 30, "min_minor": 1}]}
    assert schedule_definition(parse_schedule(definition)) == definition
    for simple in ({"kind": "fixed", "amount_minor": 7}, {"kind": "percentage", "rate_bps": 38, "max_minor": 900}):
        assert schedule_definition(parse_schedule(simple)) == simple


def test_every_problem_of_a_bad_definition_is_reported_at_once():
    with pytest.raises(FeeScheduleError) as caught:
        parse_schedule({"kind": "tiered", "basis": "weekly", "colour": "red", "tiers": [
            {"up_to_minor": 500, "rate_bps": 60.5},
            {"up_to_minor": 100, "rate_bps": 40, "min_minor": 9, "max_minor": 3},
            {"up_to_minor": 900, "rate_bps": -1, "fixed_minor": True},
        ]})
    problems = caught.value.problems
    assert caught.value.code == "invalid_fee_schedule"
    assert "basis must be one of month_volume, amount, not 'weekly'" in problems
    assert "colour is not a field of this schedule" in problems
    assert "tiers[1].rate_bps must be an integer 0–10000" in problems
    assert "tiers[2].min_minor is above max_minor" in problems
    assert "tiers[3].fixed_minor must be a non-negative integer of minor units" in problems
    assert "the last tier must be open: up_to_minor null" in problems
    assert "tiers must be in ascending order of up_to_minor" in problems


@pytest.mark.parametrize("definition, problem", [
    ([], "the definition must be a JSON object"),
    ({"kind": "flat"}, "kind must be one of percentage, fixed, tiered, not 'flat'"),
    ({"kind": "percentage"}, "rate_bps is required"),
    ({"kind": "percentage", "rate_bps": 10_001}, "rate_bps must be an integer 0–10000"),
    ({"kind": "fixed", "amount_minor": 1.5}, "amount_minor is required: a non-negative integer of minor units"),
    ({"kind": "fixed", "amount_minor": 3, "rate_bps": 1}, "rate_bps is not a field of this schedule"),
    ({"kind": "tiered", "basis": "amount", "tiers": []}, "tiers must be a list of 1–20 tiers"),
    ({"kind": "tiered", "basis": "amount", "tiers": [{"up_to_minor": None}, {"up_to_minor": None}]},
     "only the last tier may have up_to_minor null"),
])
def test_bad_definitions_are_refused_with_a_clear_message(definition, problem):
    with pytest.raises(FeeScheduleError) as caught:
        parse_schedule(definition)
    assert problem in caught.value.problems


def test_amounts_must_be_non_negative_integers():
    schedule = parse_schedule({"kind": "fixed", "amount_minor": 1})
    with pytest.raises(ValueError):
        fee_minor(schedule, -1)
    with pytest.raises(ValueError):
        fee_minor(schedule, 1.0)
