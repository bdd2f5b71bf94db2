"""Forecasts: calendar columns, intervals in minor units, model choice by backtest, and refusals."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from juhe.treasury.forecast import (BASELINE, ForecastError, Series, Setup, calendar_columns, candidates, forecast)
from juhe.treasury.forecast_backtest import backtest, choose

SHORT = Setup(horizon=14)  # two weeks: the rules are the same at 13, the fits are quicker
FIRST = date(2025, 6, 2)


def weekly_flows(days: int, seed: int = 1) -> Series:
    """A shop's takings: busier weekends, a slow trend, noise; nothing on China's holidays off a weekend."""
    rng = np.random.default_rng(seed)
    values = []
    for i in range(days):
        day = FIRST + timedelta(days=i)
        level = 100_000 * (1 + i / 2000) * (1.3 if day.weekday() >= 5 else 1.0)
        off = calendar_columns([day])["holiday_weekday"][0]
        values.append(0.0 if off else level * math.exp(rng.normal(0, 0.05)))
    return Series(f"CNY:inflow:{seed}", tuple(values), FIRST)


def test_holidays_on_weekdays_and_make_up_days_on_weekends_are_marked():
    columns = calendar_columns([date(2025, 10, 1), date(2025, 9, 28), date(2025, 9, 27), date(2025, 9, 30)])
    assert columns["holiday_weekday"].tolist() == [1.0, 0.0, 0.0, 0.0]  # National Day, a Wednesday
    assert columns["workday_weekend"].tolist() == [0.0, 1.0, 0.0, 0.0]  # Sunday 28 September was worked


def test_forecast_gives_ordered_intervals_in_minor_units_that_hold_the_actuals_and_knows_national_day():
    full = weekly_flows(134)  # fitted on 120 days to 29 September 2025, then National Day's week off (1–8 October)
    history = Series(full.key, full.values[:120], FIRST)
    [result] = forecast([history], {history.key: "AutoARIMA"}, SHORT)
    assert result.model == "AutoARIMA" and len(result.days) == 14
    assert result.days[0] == date(2025, 9, 30)
    for i in range(14):
        row = result.rounded(i)
        assert all(isinstance(v, int) for k, v in row.items() if k.endswith("_minor"))
        assert row["lo95_minor"] <= row["lo80_minor"] <= row["mean_minor"] <= row["hi80_minor"] <= row["hi95_minor"]
    inside = sum(result.bounds["lo-95"][i] <= full.values[120 + i] <= result.bounds["hi-95"][i] for i in range(14))
    assert inside >= 10  # of 14 held-out days
    # One holiday weekday in the history (2 June, Dragon Boat) is enough to expect the week off
    assert result.mean[1] < 0.2 * result.mean[0]  # 1 October, a Wednesday off, against Tuesday 30 September
    saturday = next(i for i, d in enumerate(result.days) if d.weekday() == 5 and i > 8)
    assert result.mean[saturday] > 1.15 * result.mean[13]  # the week was learnt: Saturday 11th over Monday 13th


def test_backtest_scores_later_origins_than_it_chooses_on_and_beats_the_seasonal_naive():
    series = [weekly_flows(200, seed) for seed in (1, 2)]
    result = backtest(series, SHORT, select=1, score=2, step=14, models=("AutoETS",))
    assert result.chosen == {s.key: "AutoETS" for s in series}
    assert result.origins_select == 1 and result.origins_scored == 2
    assert [row["horizon"] for row in result.by_horizon] == [1, 2]
    assert BASELINE in result.overall and result.overall[BASELINE]["mase"] > 0
    assert result.mase_ratio < 0.9  # a trend and the week: repeating last week lags behind
    assert 0 <= result.overall["chosen"]["smape"] <= 2
    chosen = result.overall["chosen"]
    assert 0.7 <= chosen["coverage_80"] <= chosen["coverage_95"] <= 1.0  # the intervals hold what they say, or more


def test_a_month_of_history_still_chooses_by_backtest_on_its_last_weeks():
    chosen = choose([weekly_flows(35)], Setup())
    assert list(chosen.values())[0] in {"AutoETS", "AutoARIMA", "MSTL"}


@pytest.mark.parametrize(("series", "code"), [
    ([], "no_history"),
    ([Series("CNY:inflow", (1.0,) * 20, FIRST)], "history_too_short"),
    ([Series("CNY:inflow", (1.0,) * 40 + (float("nan"),), FIRST)], "not_a_number"),
    ([Series("CNY:inflow", (1.0,) * 40)], "no_first_day"),
])
def test_bad_histories_are_refused(series, code):
    with pytest.raises(ForecastError) as error:
        forecast(series, {}, SHORT)
    assert error.value.code == code


def test_an_unknown_model_and_too_many_origins_are_refused():
    with pytest.raises(ForecastError) as error:
        candidates(SHORT, ("Prophet",))
    assert error.value.code == "unknown_model"
    with pytest.raises(ForecastError) as error:
        backtest([weekly_flows(60)], SHORT, select=10, score=5)
    assert error.value.code == "bad_windows"
    with pytest.raises(ForecastError) as error:
        backtest([weekly_flows(60)], SHORT, select=2, score=2, step=14)
    assert error.value.code == "history_too_short"
