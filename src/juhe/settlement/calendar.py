"""The business calendar of settlement: China's public holidays and make-up working days
(调休, from `chinese-calendar`), the merchant's time zone and daily cut-off.

- A payment's *business date* is its local date in the merchant's zone; with a cut-off other
  than midnight, what happens at or after the cut-off belongs to the next date.
- Its *settlement date* under cycle T+n (n ≥ 1) is the n-th working day after the business date:
  a payment on Friday, Saturday or Sunday settles on Monday under T+1, and a Saturday that is a
  make-up working day counts as a working day. Under T+0 it is the business date itself when
  that is a working day, else the next working day.

Dates outside chinese-calendar's years are a CalendarError, never a guess, unless the operator
has entered that year's State Council notice in JUHE_SETTLEMENT_CALENDAR_FILE (JSON:
{"2027": {"holidays": ["2027-01-01", …], "workdays": ["2027-02-07", …]}}), which then decides.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import json
from functools import lru_cache
from pathlib import Path

import chinese_calendar

CYCLES = {"T+0": 0, "T+1": 1, "T+3": 3}
DEFAULT_CYCLE = "T+1"
DEFAULT_TIMEZONE = "Asia/Shanghai"
MIDNIGHT = time(0, 0)
# The longest run of non-working days in China's calendar is the Spring Festival week plus a
# weekend (about 9 days); a search that walks further than this has met a bug, not a holiday.
NON_WORKING_RUN_MAX = 31


class CalendarError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError("invalid_timezone", f"unknown time zone {name!r}") from None


def cycle_days(cycle: str) -> int:
    if cycle not in CYCLES:
        raise CalendarError("invalid_cycle", f"settlement cycle must be one of {', '.join(CYCLES)}, not {cycle!r}")
    return CYCLES[cycle]


def is_working_day(day: date) -> bool:
    published = published_years().get(day.year)
    if published is not None:
        holidays, workdays = published
        return day in workdays or (day.weekday() < 5 and day not in holidays)
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError as e:  # the package knows only the years the State Council has published
        raise CalendarError("date_out_of_range", f"no holiday calendar for {day}: {e}") from None


@lru_cache(maxsize=1)
def published_years() -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    """The years the operator entered, read once per process."""
    from juhe.config import get_settings

    path = get_settings().settlement_calendar_file
    if path is None:
        return {}
    try:
        years = json.loads(Path(path).read_text())
        return {int(year): (frozenset(map(date.fromisoformat, days.get("holidays", []))),
                            frozenset(map(date.fromisoformat, days.get("workdays", []))))
                for year, days in years.items()}
    except (OSError, ValueError, AttributeError, TypeError) as e:
        raise CalendarError("invalid_calendar_file", f"{path}: {e}") from None


def business_date(at: datetime, tz: str | ZoneInfo = DEFAULT_TIMEZONE, cutoff: time = MIDNIGHT) -> date:
    """The business date of a moment for a merchant in zone `tz` with daily cut-off `cutoff`."""
    if at.tzinfo is None:
        raise CalendarError("naive_datetime", "give moments with a time zone (UTC in the database)")
    local = at.astimezone(zone_of(tz) if isinstance(tz, str) else tz)
    if cutoff != MIDNIGHT and local.time().replace(tzinfo=None) >= cutoff:
        return local.date() + timedelta(days=1)
    return local.date()


def business_day_end(day: date, tz: str | ZoneInfo = DEFAULT_TIMEZONE, cutoff: time = MIDNIGHT) -> datetime:
    """The first moment that no longer belongs to business date `day` (exclusive bound)."""
    zone = zone_of(tz) if isinstance(tz, str) else tz
    if cutoff == MIDNIGHT:
        return datetime.combine(day + timedelta(days=1), MIDNIGHT, zone)
    return datetime.combine(day, cutoff, zone)


def next_working_day(day: date) -> date:
    """The first working day strictly after `day`."""
    for step in range(1, NON_WORKING_RUN_MAX + 1):
        candidate = day + timedelta(days=step)
        if is_working_day(candidate):
            return candidate
    raise CalendarError("no_working_day", f"no working day within {NON_WORKING_RUN_MAX} days after {day}")


def previous_working_day(day: date) -> date:
    """The last working day strictly before `day`."""
    for step in range(1, NON_WORKING_RUN_MAX + 1):
        candidate = day - timedelta(days=step)
        if is_working_day(candidate):
            return candidate
    raise CalendarError("no_working_day", f"no working day within {NON_WORKING_RUN_MAX} days before {day}")


def settlement_date(business: date, cycle: str = DEFAULT_CYCLE) -> date:
    """When the money of business date `business` is paid out under `cycle`."""
    days = cycle_days(cycle)
    if days == 0:
        return business if is_working_day(business) else next_working_day(business)
    settles = business
    for _ in range(days):
        settles = next_working_day(settles)
    return settles


def due_through(day: date, cycle: str = DEFAULT_CYCLE) -> date | None:
    """The last business date whose settlement date is on or before `day`; None when `day` is
    not a working day (nothing settles then: the bank does not execute).

    settlement_date is non-decreasing in the business date, so the business dates due by `day`
    are exactly those up to this one, including weekends and holidays before it."""
    days = cycle_days(cycle)
    if not is_working_day(day):
        return None
    if days == 0:
        return day
    # T+n settles on `day` the business dates before the n-th working day counted back from `day`.
    nth = day
    for _ in range(days - 1):
        nth = previous_working_day(nth)
    return nth - timedelta(days=1)
