"""Billing periods on an anchor, as Stripe Billing counts them: a monthly anchor on the 31st
bills on the last day of shorter months (Jan 31 → Feb 28 → Mar 31), a yearly one on the same
month and day. A start before the anchor makes a short first period, billed in proportion
(Stripe's `create_prorations`). Pure functions of datetimes."""

from __future__ import annotations

import calendar
from datetime import datetime
from fractions import Fraction

MONTHS = {"month": 1, "year": 12}
BOUNDARIES_MAX = 1_200  # 100 years of monthly periods: a bound on every search


def add_months(anchor: datetime, months: int) -> datetime:
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    return anchor.replace(year=year, month=month, day=min(anchor.day, calendar.monthrange(year, month)[1]))


def boundary(anchor: datetime, interval: str, k: int) -> datetime:
    return add_months(anchor, k * MONTHS[interval])


def period_at(anchor: datetime, interval: str, moment: datetime) -> tuple[datetime, datetime]:
    """The full period [start, end) on the anchor's grid that contains `moment`."""
    step = MONTHS[interval]
    k = ((moment.year - anchor.year) * 12 + moment.month - anchor.month) // step
    for _ in range(BOUNDARIES_MAX):
        start, end = boundary(anchor, interval, k), boundary(anchor, interval, k + 1)
        if start <= moment < end:
            return start, end
        k += 1 if moment >= end else -1
    raise AssertionError("no period found")


def first_period(start: datetime, anchor: datetime, interval: str) -> tuple[datetime, datetime]:
    """From the start to the next anchor date; the whole period when the subscription starts on one."""
    _, end = period_at(anchor, interval, start)
    return start, end


def fraction_of(start: datetime, end: datetime, anchor: datetime, interval: str) -> Fraction:
    """The share of the full period (the one containing `start`) that [start, end) covers."""
    full_start, full_end = period_at(anchor, interval, start)
    assert full_start <= start < end <= full_end
    return Fraction(int((end - start).total_seconds()), int((full_end - full_start).total_seconds()))
