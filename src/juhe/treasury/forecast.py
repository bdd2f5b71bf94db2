"""Cash-flow forecasts: statsforecast's AutoETS, AutoARIMA and MSTL, one chosen per series by backtest.

A series is one merchant's daily inflows or outflows in one currency, in minor units. The week is
the season; China's holidays and make-up working days enter AutoARIMA (and MSTL's trend) as two
calendar columns, since a Wednesday off pays out nothing and the Saturday after pays out double.
Forecasts are floats while the models work; whatever is shown or advised is rounded to minor units.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from juhe.settlement.calendar import CalendarError, is_working_day

HORIZON_DAYS = 91  # 13 weeks: a quarter's cash plan
LEVELS = (80, 95)
CANDIDATES = ("AutoETS", "AutoARIMA", "MSTL")
BASELINE = "SeasonalNaive"
SERIES_MAX = 10_000  # one call's limit: a bench of many merchants batches below it
FIT_MAX = 364  # observations a model is fitted on: a year of weeks; more slows AutoARIMA and says little more of a week
ARIMA_ORDERS_MAX = {"max_p": 2, "max_q": 2, "max_P": 1, "max_Q": 1}
HISTORY_DAYS_MIN = 28  # four weeks: less gives the weekly season nothing to learn from


class ForecastError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Series:
    """Equally spaced observations from `first_day` (daily), or periods numbered from 0 (calendar=False)."""

    key: str
    values: tuple[float, ...]
    first_day: date | None = None


@dataclass(frozen=True, slots=True)
class Setup:
    """How a set of series is modelled: its season, horizon and whether China's calendar applies."""

    season: int = 7
    horizon: int = HORIZON_DAYS
    calendar: bool = True
    freq: str | int = "D"
    bucket: int = 7  # horizon steps reported together: weeks of days


DAILY = Setup()


@dataclass(frozen=True, slots=True)
class Forecast:
    key: str
    model: str
    days: tuple[date, ...]
    mean: tuple[float, ...]
    bounds: dict[str, tuple[float, ...]]  # "lo-80", "hi-80", "lo-95", "hi-95"

    def rounded(self, index: int) -> dict:
        """One day of it in minor units, as shown and advised (a flow is never below zero)."""
        row = {"date": self.days[index].isoformat(), "mean_minor": minor(self.mean[index])}
        for name, values in self.bounds.items():
            row[f"{name.replace('-', '')}_minor"] = minor(values[index])
        return row


def minor(value: float) -> int:
    return max(0, int(round(value)))


def calendar_columns(days: list[date]) -> dict[str, np.ndarray]:
    """A holiday on a weekday, and a make-up working day on a weekend: what the week alone cannot know."""
    working = np.array([working_day(day) for day in days])
    weekend = np.array([day.weekday() >= 5 for day in days])
    return {"holiday_weekday": (~working & ~weekend).astype(float), "workday_weekend": (working & weekend).astype(float)}


def working_day(day: date) -> bool:
    try:
        return is_working_day(day)
    except CalendarError:  # beyond the published calendar: weekdays work (the operator can publish more years)
        return day.weekday() < 5


def candidates(setup: Setup, names: tuple[str, ...] = CANDIDATES) -> list:
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, SeasonalNaive

    build = {
        "AutoETS": lambda: AutoETS(season_length=setup.season),
        # orders up to (2,d,2)(1,D,1): a daily cash flow needs no more, and each order beyond doubles the search
        "AutoARIMA": lambda: AutoARIMA(season_length=setup.season, **ARIMA_ORDERS_MAX),
        # the trend of what is left after the season; ARIMA there so the calendar columns count
        "MSTL": lambda: MSTL(season_length=setup.season, trend_forecaster=AutoARIMA(seasonal=False)),
        BASELINE: lambda: SeasonalNaive(season_length=setup.season),
    }
    unknown = sorted(set(names) - set(build))
    if unknown:
        raise ForecastError("unknown_model", f"no model {', '.join(unknown)}; known: {', '.join(build)}")
    return [build[name]() for name in names]


def check(series: list[Series], setup: Setup) -> None:
    if not series:
        raise ForecastError("no_history", "no series to forecast")
    if len(series) > SERIES_MAX:
        raise ForecastError("too_many_series", f"{len(series)} series in one call; at most {SERIES_MAX}")
    for one in series:
        if len(one.values) < max(HISTORY_DAYS_MIN, 2 * setup.season):
            raise ForecastError("history_too_short", f"{one.key}: {len(one.values)} observations, "
                                f"at least {max(HISTORY_DAYS_MIN, 2 * setup.season)} needed")
        if setup.calendar and one.first_day is None:
            raise ForecastError("no_first_day", f"{one.key}: a daily series needs its first day")
        if not np.isfinite(np.asarray(one.values, dtype=float)).all():
            raise ForecastError("not_a_number", f"{one.key}: every observation must be a finite number")


def frame(series: list[Series], setup: Setup):
    """The long frame statsforecast reads: unique_id, ds, y (and the calendar columns)."""
    import pandas as pd

    parts = []
    for one in series:
        n = len(one.values)
        part = {"unique_id": one.key, "ds": _stamps(one, setup, 0, n), "y": np.asarray(one.values, dtype=float)}
        if setup.calendar:
            part |= calendar_columns(_days(one.first_day, 0, n))
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


def future_frame(series: list[Series], setup: Setup):
    import pandas as pd

    parts = []
    for one in series:
        n = len(one.values)
        days = _days(one.first_day, n, setup.horizon)
        parts.append(pd.DataFrame({"unique_id": one.key, "ds": _stamps(one, setup, n, setup.horizon)}
                                  | calendar_columns(days)))
    return pd.concat(parts, ignore_index=True)


def _days(first_day: date, start: int, count: int) -> list[date]:
    return [first_day + timedelta(days=start + i) for i in range(count)]


def _stamps(one: Series, setup: Setup, start: int, count: int):
    import pandas as pd

    if setup.calendar:
        return pd.to_datetime(_days(one.first_day, start, count))
    return np.arange(start, start + count)


def engine(setup: Setup, names: tuple[str, ...]):
    from statsforecast import StatsForecast
    from statsmodels.tools.sm_exceptions import SingularMatrixWarning  # imported first: it sets "always" for its own

    # A calendar column that is all zeros in a window (no holiday in it) leaves ARIMA's design rank-deficient:
    # the fit drops it, which is what it should do, and says so on every fit.
    warnings.filterwarnings("ignore", category=SingularMatrixWarning)
    # ETS tries models with as many parameters as a short history has days: their variance is 0/0, the model
    # is left out by its information criterion, which is the answer; numpy says so each time.
    warnings.filterwarnings("ignore", message="divide by zero encountered", category=RuntimeWarning, module="statsforecast.ets")

    # One process: the machine is shared, and a few thousand series take seconds.
    return StatsForecast(models=candidates(setup, names), freq=setup.freq, n_jobs=1)


def forecast(series: list[Series], chosen: dict[str, str], setup: Setup = DAILY) -> list[Forecast]:
    """Fit each series' chosen model on its whole history and forecast the horizon with 80 %/95 % intervals."""
    check(series, setup)
    by_model: dict[str, list[Series]] = {}
    for one in map(latest, series):
        by_model.setdefault(chosen.get(one.key, "AutoETS"), []).append(one)
    out = []
    for model, group in by_model.items():
        result = engine(setup, (model,)).forecast(
            h=setup.horizon, df=frame(group, setup), X_df=future_frame(group, setup) if setup.calendar else None,
            level=list(LEVELS))
        out.extend(_forecasts(result, group, model, setup))
    return sorted(out, key=lambda f: f.key)


def latest(one: Series) -> Series:
    """The last FIT_MAX observations, from the day they start."""
    cut = max(0, len(one.values) - FIT_MAX)
    first = one.first_day + timedelta(days=cut) if one.first_day else None
    return Series(one.key, one.values[cut:], first)


def _forecasts(result, group: list[Series], model: str, setup: Setup) -> list[Forecast]:
    out = []
    for one in group:
        rows = result[result["unique_id"] == one.key].sort_values("ds")
        days = tuple(_days(one.first_day, len(one.values), setup.horizon)) if setup.calendar else ()
        bounds = {f"{side}-{level}": tuple(rows[f"{model}-{side}-{level}"].to_numpy(float))
                  for level in LEVELS for side in ("lo", "hi")}
        out.append(Forecast(one.key, model, days, tuple(rows[model].to_numpy(float)), bounds))
    return out
