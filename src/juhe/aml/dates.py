"""Dates of birth as lists write them, kept only as precise as the list knows them."""

from __future__ import annotations

import re
from datetime import date, datetime

MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
ISO = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")  # EU and UK lists: dd/mm/yyyy
WORDS = re.compile(r"(?:(\d{1,2})\s+)?([A-Za-z]{3})[A-Za-z]*\.?\s+(\d{4})")  # OFAC: 12 Mar 1961, Mar 1961


def parse_dob(text: str | date) -> str:
    """'1961-03-12', '12/03/1961', '12 Mar 1961' → '1961-03-12'; 'Mar 1961' → '1961-03'; '1961' → '1961'."""
    if isinstance(text, datetime):
        text = text.date()
    if isinstance(text, date):
        return text.isoformat()
    cleaned = text.strip()
    if found := ISO.fullmatch(cleaned):
        year, month, day = found.groups()
    elif found := DAY_MONTH_YEAR.fullmatch(cleaned):
        day, month, year = found.groups()
    elif (found := WORDS.fullmatch(cleaned)) and found.group(2).lower() in MONTHS:
        day, month, year = found.group(1), str(MONTHS[found.group(2).lower()]), found.group(3)
    else:
        raise ValueError(f"not a date of birth: {text!r}")
    return _checked(int(year), int(month) if month else None, int(day) if day else None, text)


def _checked(year: int, month: int | None, day: int | None, text: str) -> str:
    try:
        date(year, 1 if month is None else month, 1 if day is None else day)
    except ValueError:
        raise ValueError(f"not a date of birth: {text!r}") from None
    if day is not None:
        return f"{year:04d}-{month:02d}-{day:02d}"
    return f"{year:04d}-{month:02d}" if month is not None else f"{year:04d}"


def dob_agrees(known: str, given: str) -> bool:
    """Whether two dates of birth can be the same day: '1961' agrees with '1961-03-12'."""
    shorter = min(len(known), len(given))
    return known[:shorter] == given[:shorter]
