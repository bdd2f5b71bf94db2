"""The business calendar: China's holidays and make-up working days, zones and cut-offs."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from juhe.settlement.calendar import (
    CalendarError,
    business_date,
    business_day_end,
    due_through,
    is_working_day,
    settlement_date,
)

D = date


def test_golden_week_2025_pays_tuesday_collections_on_the_first_day_back():
    # 1–8 October 2025 are holidays; Sunday 28 September and Saturday 11 October are working days.
    assert settlement_date(D(2025, 9, 30), "T+1") == D(2025, 10, 9)
    assert settlement_date(D(2025, 10, 3), "T+1") == D(2025, 10, 9)  # collected during the holiday
    assert settlement_date(D(2025, 10, 3), "T+0") == D(2025, 10, 9)


def test_make_up_saturday_and_sunday_count_as_working_days():
    assert settlement_date(D(2025, 10, 10), "T+1") == D(2025, 10, 11)  # Friday → the make-up Saturday
    assert settlement_date(D(2025, 9, 27), "T+1") == D(2025, 9, 28)  # Saturday → the make-up Sunday
    assert settlement_date(D(2025, 10, 11), "T+0") == D(2025, 10, 11)
    assert settlement_date(D(2025, 10, 18), "T+1") == D(2025, 10, 20)  # an ordinary Saturday waits for Monday


def test_spring_festival_2025_with_its_make_up_weekend_days():
    # 28 January – 4 February 2025 are holidays; Sunday 26 January and Saturday 8 February are worked.
    assert settlement_date(D(2025, 1, 24), "T+1") == D(2025, 1, 26)
    assert settlement_date(D(2025, 1, 27), "T+1") == D(2025, 2, 5)
    assert settlement_date(D(2025, 2, 7), "T+1") == D(2025, 2, 8)
    assert settlement_date(D(2025, 1, 27), "T+3") == D(2025, 2, 7)  # 5th, 6th, 7th February


def test_t_plus_3_counts_working_days_across_golden_week():
    assert settlement_date(D(2025, 9, 29), "T+3") == D(2025, 10, 10)  # 30 Sep, 9 Oct, 10 Oct


def test_due_through_is_exactly_the_business_dates_whose_settlement_date_has_come():
    days = [D(2025, 9, 20) + timedelta(days=n) for n in range(40)]
    for cycle in ("T+0", "T+1", "T+3"):
        for day in days[10:]:
            through = due_through(day, cycle)
            if not is_working_day(day):
                assert through is None
                continue
            due = {b for b in days[:30] if settlement_date(b, cycle) <= day}
            assert due == {b for b in days[:30] if b <= through}, (cycle, day)


def test_nothing_is_due_on_a_holiday():
    assert due_through(D(2025, 10, 8), "T+1") is None
    assert due_through(D(2025, 10, 9), "T+1") == D(2025, 10, 8)  # the whole holiday settles the day after


def test_business_date_follows_the_merchant_zone_and_cutoff():
    at = datetime(2025, 10, 9, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    assert business_date(at) == D(2025, 10, 9)
    assert business_date(at, "Asia/Shanghai", time(23, 0)) == D(2025, 10, 10)
    assert business_date(at, "Europe/London", time(23, 0)) == D(2025, 10, 9)  # 16:30 there
    assert business_date(datetime(2025, 10, 9, 14, 59, tzinfo=timezone.utc), "Asia/Shanghai", time(23, 0)) == D(2025, 10, 9)


def test_business_day_end_is_the_exclusive_bound_of_the_business_date():
    end = business_day_end(D(2025, 10, 9), "Asia/Shanghai", time(23, 0))
    assert business_date(end, "Asia/Shanghai", time(23, 0)) == D(2025, 10, 10)
    assert business_date(end - timedelta(microseconds=1), "Asia/Shanghai", time(23, 0)) == D(2025, 10, 9)
    assert business_day_end(D(2025, 10, 9)).isoformat() == "2025-10-10T00:00:00+08:00"


@pytest.mark.parametrize("day", [D(2003, 6, 2), D(2031, 1, 6)])
def test_dates_outside_the_published_calendar_are_a_clear_error(day):
    with pytest.raises(CalendarError) as caught:
        settlement_date(day, "T+1")
    assert caught.value.code == "date_out_of_range" and str(day.year) in str(caught.value)


def test_bad_cycle_zone_and_naive_times_are_refused():
    with pytest.raises(CalendarError) as caught:
        settlement_date(D(2025, 10, 9), "T+2")
    assert caught.value.code == "invalid_cycle"
    with pytest.raises(CalendarError) as caught:
        business_date(datetime(2025, 10, 9, 12, tzinfo=timezone.utc), "Mars/Olympus")
    assert caught.value.code == "invalid_timezone"
    with pytest.raises(CalendarError) as caught:
        business_date(datetime(2025, 10, 9, 12))
    assert caught.value.code == "naive_datetime"


def test_a_year_the_operator_published_decides_beyond_the_packaged_calendar(tmp_path, monkeypatch):
    from datetime import date

    from juhe.config import get_settings
    from juhe.settlement import calendar

    published = tmp_path / "calendar.json"
    published.write_text('{"2031": {"holidays": ["2031-01-01"], "workdays": ["2031-01-04"]}}')
    monkeypatch.setenv("JUHE_SETTLEMENT_CALENDAR_FILE", str(published))
    get_settings.cache_clear()
    calendar.published_years.cache_clear()
    try:
        assert calendar.is_working_day(date(2031, 1, 1)) is False  # New Year's Day, a Wednesday
        assert calendar.is_working_day(date(2031, 1, 4)) is True  # a make-up Saturday
        assert calendar.is_working_day(date(2031, 1, 5)) is False  # an ordinary Sunday
        assert calendar.settlement_date(date(2030 + 1, 1, 3), "T+1") == date(2031, 1, 4)
    finally:
        get_settings.cache_clear()
        calendar.published_years.cache_clear()
