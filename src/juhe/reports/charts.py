"""The reports' charts, drawn with matplotlib's Agg backend (no display) into PNG bytes. Labels
are in English and codes: the PDF's text around them carries the Chinese."""

from __future__ import annotations

import io
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")
from matplotlib import dates, pyplot, ticker  # noqa: E402 -- after the backend is chosen

DPI = 150
SIZE_IN = (6.4, 2.6)


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=DPI)
    pyplot.close(figure)
    return out.getvalue()


def volume_by_channel(currency: str, now: dict[str, int], before: dict[str, int], exponent: int) -> bytes:
    """Succeeded volume per channel, this month beside the month before (in major units)."""
    names = sorted(set(now) | set(before), key=lambda n: -now.get(n, 0))
    figure, axes = pyplot.subplots(figsize=SIZE_IN)
    xs = range(len(names))
    scale = 10 ** exponent
    axes.bar([x - 0.2 for x in xs], [before.get(n, 0) / scale for n in names], width=0.4, label="previous month", color="#b0b7c3")
    axes.bar([x + 0.2 for x in xs], [now.get(n, 0) / scale for n in names], width=0.4, label="this month", color="#1f6feb")
    axes.set_xticks(list(xs), names)
    axes.set_ylabel(currency)
    axes.set_title(f"Succeeded volume by channel ({currency})")
    axes.legend(fontsize=7)
    return _png(figure)


def success_rate_by_channel(rates: dict[str, float]) -> bytes:
    names = sorted(rates)
    figure, axes = pyplot.subplots(figsize=SIZE_IN)
    axes.bar(names, [rates[n] * 100 for n in names], color="#2da44e")
    axes.set_ylim(0, 100)
    axes.set_ylabel("%")
    axes.set_title("Success rate by channel")
    return _png(figure)


def daily_volume(currency: str, series: list[tuple[date, int]], exponent: int, first_day: date, next_day: date) -> bytes:
    """One bar a day over the whole month (days without payments stay empty, not left out)."""
    figure, axes = pyplot.subplots(figsize=SIZE_IN)
    axes.bar([d for d, _ in series], [v / 10 ** exponent for _, v in series], width=0.8, color="#1f6feb")
    last_day = next_day - timedelta(days=1)
    axes.set_xlim(dates.date2num(first_day) - 0.6, dates.date2num(last_day) + 0.6)  # whole bars at both ends
    axes.xaxis.set_major_locator(dates.DayLocator(bymonthday=(1, 5, 9, 13, 17, 21, 25, 29)))
    axes.xaxis.set_major_formatter(dates.DateFormatter("%m-%d"))
    axes.set_ylabel(currency)
    axes.set_title(f"Daily succeeded volume ({currency})")
    return _png(figure)


def counts(title: str, values: dict[str, int]) -> bytes:
    names = sorted(values)
    figure, axes = pyplot.subplots(figsize=SIZE_IN)
    axes.barh(names, [values[n] for n in names], color="#bf8700")
    axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # counts: no 0.2 of an alert
    axes.set_title(title)
    return _png(figure)
