"""Report periods: Beijing calendar months and quarters as UTC instants, the ones listed in the
console, and the refusals."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from juhe.reports.periods import ReportError, month_of, quarter_of, recent_months, recent_quarters, started


def test_a_month_and_a_quarter_are_beijing_calendar_periods():
    october = month_of("2026-10")
    assert (october.start, october.end) == (datetime(2026, 9, 30, 16, tzinfo=timezone.utc), datetime(2026, 10, 31, 16, tzinfo=timezone.utc))
    assert (october.last_day, october.previous_month().label, month_of("2026-01").previous_month().label) == (date(2026, 10, 31), "2026-09", "2025-12")
    assert (month_of("2024-02").last_day, quarter_of("2026q4").label, quarter_of("2026Q4").last_day) == (date(2024, 2, 29), "2026Q4", date(2026, 12, 31))


def test_the_console_lists_the_running_period_first_and_goes_back_over_the_year():
    assert [p.label for p in recent_months(3, date(2026, 1, 15))] == ["2026-01", "2025-12", "2025-11"]
    assert [p.label for p in recent_quarters(3, date(2026, 4, 1))] == ["2026Q2", "2026Q1", "2025Q4"]


@pytest.mark.parametrize(("make", "code"), [
    (lambda: month_of("2026-00"), "invalid_month"), (lambda: month_of("26-10"), "invalid_month"),
    (lambda: quarter_of("2026Q0"), "invalid_quarter"), (lambda: started(month_of("2027-01"), date(2026, 12, 31)), "future_period"),
])
def test_what_is_not_a_period_or_has_not_begun_is_refused(make, code):
    with pytest.raises(ReportError) as refused:
        make()
    assert refused.value.code == code


def test_the_running_month_is_reported_to_date():
    assert started(month_of("2026-12"), date(2026, 12, 1)).label == "2026-12"
