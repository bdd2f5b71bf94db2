"""The pure rules: a credit decision from a payer's history, installment plans, how a repayment
is spread, and what the dunning calendar has due at a given moment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from juhe.bnpl import schedule
from juhe.bnpl.credit import LIMIT_MAX_MINOR, LIMIT_MIN_MINOR, PayerHistory, decide
from juhe.money import Money

T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
SEASONED = PayerHistory(payments=40, tenure_days=200, typical_amount_minor=30_000, risk_blocks_90d=0,
                        bnpl_defaults=0, bnpl_late_installments=0, bnpl_repaid_orders=0)


def history(**changes) -> PayerHistory:
    return PayerHistory(**{**SEASONED.as_json(), **changes})


def test_a_seasoned_payer_gets_three_typical_baskets():
    decision = decide(SEASONED)
    assert decision.approved and decision.limit_minor == 90_000


def test_thin_history_a_default_or_a_risk_block_declines_with_every_reason():
    decision = decide(history(payments=1, tenure_days=3, bnpl_defaults=1, risk_blocks_90d=2))
    assert not decision.approved and decision.limit_minor == 0
    assert len(decision.reasons) == 4


def test_the_line_grows_with_repaid_orders_and_halves_after_late_installments():
    assert decide(history(bnpl_repaid_orders=2)).limit_minor == 120_000  # 126,000 in whole ¥100s
    assert decide(history(bnpl_repaid_orders=9)).limit_minor == 180_000  # the bonus is capped at +100 %
    assert decide(history(bnpl_late_installments=1)).limit_minor == LIMIT_MIN_MINOR  # 45,000 → the floor


def test_limits_stay_between_floor_and_ceiling_in_whole_hundreds():
    assert decide(history(typical_amount_minor=10_000_000)).limit_minor == LIMIT_MAX_MINOR
    assert decide(history(payments=5, typical_amount_minor=33_333)).limit_minor == 50_000  # 24,999 → floor
    assert decide(history(typical_amount_minor=33_333)).limit_minor % 10_000 == 0


def test_a_plan_splits_the_principal_exactly_one_month_apart():
    parts = schedule.plan(T0, Money(10_000, "CNY"), 3)
    assert [p.principal_minor for p in parts] == [3334, 3333, 3333]
    assert [p.due_at for p in parts] == [T0 + timedelta(days=30 * i) for i in (1, 2, 3)]
    with pytest.raises(ValueError):
        schedule.plan(T0, Money(10_000, "CNY"), 5)


def test_a_repayment_pays_the_earliest_installment_first_and_never_above_what_is_owed():
    parts = [schedule.Part(1, T0, 3334, 300, 1000), schedule.Part(2, T0, 3333), schedule.Part(3, T0, 3333)]
    assert schedule.allocate(parts, 4000) == {1: 2634, 2: 1366}
    assert schedule.allocate(parts, 9300) == {1: 2634, 2: 3333, 3: 3333}
    with pytest.raises(AssertionError):
        schedule.allocate(parts, 9301)


def test_the_dunning_calendar_reminds_charges_once_and_defaults():
    due = T0 + timedelta(days=30)
    part = schedule.Part(1, due, 20_000)
    assert schedule.due_actions([part], due - timedelta(days=4)) == []
    assert schedule.due_actions([part], due - timedelta(days=3)) == [schedule.Reminder(1, "upcoming", ("upcoming",))]
    late = schedule.due_actions([part], due + timedelta(days=3))
    assert late == [schedule.Reminder(1, "overdue", ("upcoming", "due", "overdue")), schedule.LateFee(1, 1_500)]
    charged = schedule.Part(1, due, 20_000, 1_500, 0, ("upcoming", "due", "overdue"))
    assert schedule.due_actions([charged], due + timedelta(days=10)) == []
    assert schedule.due_actions([charged], due + schedule.DEFAULT_AFTER) == [schedule.Default(due)]
    assert schedule.late_fee_minor(schedule.Part(1, due, 5_000)) == 500  # capped at 10 % of the installment


def test_review_at_is_the_next_moment_something_falls_due():
    due = T0 + timedelta(days=30)
    parts = [schedule.Part(1, due, 5_000)]
    assert schedule.review_at(parts, T0) == due - timedelta(days=3)
    assert schedule.review_at(parts, due) == due + schedule.GRACE
    assert schedule.review_at([schedule.Part(1, due, 5_000, 0, 5_000)], T0) is None
