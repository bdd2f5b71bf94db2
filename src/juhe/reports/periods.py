"""Report periods: calendar months and quarters of Beijing time (the business day of the merchants
these reports are for), as half-open UTC instants [start, end)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


class ReportError(ValueError):
    """A report asked for in a way that cannot be answered: a bad period, an unknown merchant."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Period:
    label: str  # 2026-10 or 2026Q3
    first_day: date
    next_day: date  # the first day after the period

    @property
    def last_day(self) -> date:
        return self.next_day - timedelta(days=1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time(), BEIJING)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.next_day, datetime.min.time(), BEIJING)

    def previous_month(self) -> Period:
        year, month = (self.first_day.year, self.first_day.month - 1) if self.first_day.month > 1 else (self.first_day.year - 1, 12)
        return month_of(f"{year:04d}-{month:02d}")


def today() -> date:
    return datetime.now(BEIJING).date()


def started(period: Period, on: date | None = None) -> Period:
    """The period, if it has begun (a month or quarter still running is reported to date)."""
    if period.first_day > (on or today()):
        raise ReportError("future_period", f"{period.label} has not begun yet")
    return period


def recent_months(count: int, on: date | None = None) -> list[Period]:
    """The running month and the ones before it, newest first."""
    day = on or today()
    found = [month_of(f"{day.year:04d}-{day.month:02d}")]
    while len(found) < count:
        found.append(found[-1].previous_month())
    return found


def recent_quarters(count: int, on: date | None = None) -> list[Period]:
    day = on or today()
    year, quarter = day.year, (day.month - 1) // 3 + 1
    found = []
    for _ in range(count):
        found.append(quarter_of(f"{year}Q{quarter}"))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return found


def month_of(text: str) -> Period:
    found = _MONTH.match(text.strip())
    if not found or not 1 <= int(found[2]) <= 12:
        raise ReportError("invalid_month", f"a month is written YYYY-MM (2026-10), not {text!r}")
    year, month = int(found[1]), int(found[2])
    return Period(f"{year:04d}-{month:02d}", date(year, month, 1), _first_of(year, month + 1))


def quarter_of(text: str) -> Period:
    found = _QUARTER.match(text.strip().upper())
    if not found:
        raise ReportError("invalid_quarter", f"a quarter is written YYYYQn (2026Q3), not {text!r}")
    year, quarter = int(found[1]), int(found[2])
    first_month = 3 * (quarter - 1) + 1
    return Period(f"{year}Q{quarter}", date(year, first_month, 1), _first_of(year, first_month + 3))


def _first_of(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
