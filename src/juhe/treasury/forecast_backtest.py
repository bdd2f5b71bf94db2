"""Rolling-origin backtest: each candidate and the seasonal-naive baseline forecast from the same origins.

The earlier origins choose each series' model; the later ones score the choice, so the score is not
the one the choice was made on. MASE divides by the seasonal-naive error inside the training window
(Hyndman & Koehler 2006), so 1.0 is as good as repeating last week; MAPE leaves out days that
were zero (a holiday without payouts), sMAPE counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from juhe.treasury.forecast import (BASELINE, CANDIDATES, DAILY, FIT_MAX, LEVELS, ForecastError, Series, Setup, check,
                                    engine, frame)

WINDOWS_MAX = 12  # refits per series and model: each costs a fit


@dataclass(frozen=True, slots=True)
class Backtest:
    chosen: dict[str, str]  # series key → model
    by_horizon: list[dict]  # one row per horizon bucket: method → MASE, sMAPE, MAPE
    overall: dict[str, dict[str, float]]  # method → {"mase", "smape", "mape", "coverage_80", "coverage_95"}
    origins_select: int
    origins_scored: int

    @property
    def mase_ratio(self) -> float:
        """The chosen models' MASE over the seasonal-naive's: below 1 beats repeating last season."""
        return self.overall["chosen"]["mase"] / self.overall[BASELINE]["mase"]


def backtest(series: list[Series], setup: Setup = DAILY, select: int = 2, score: int = 2, step: int | None = None,
             models: tuple[str, ...] = CANDIDATES) -> Backtest:
    """`select` origins choose each series' model among `models`, the `score` origins after them measure it."""
    check(series, setup)
    methods = tuple(m for m in models if m != BASELINE) + (BASELINE,)
    windows = select + score
    if not 1 <= select or not 0 <= score or windows > WINDOWS_MAX:
        raise ForecastError("bad_windows", f"1 or more origins to choose by and {WINDOWS_MAX} in all, not {select}+{score}")
    step = step or setup.season * 4
    needed = setup.horizon + step * (windows - 1) + 2 * setup.season
    short = [one.key for one in series if len(one.values) < needed]
    if short:
        raise ForecastError("history_too_short", f"{len(short)} series shorter than the {needed} observations "
                            f"{windows} origins {step} apart need (first: {short[0]})")
    cv = engine(setup, methods).cross_validation(
        h=setup.horizon, df=frame(series, setup), n_windows=windows, step_size=step, input_size=FIT_MAX,
        level=list(LEVELS))
    errors = _errors(cv, series, setup, methods)
    cutoffs = sorted(errors["cutoff"].unique())
    chosen = _choose(errors[errors["cutoff"].isin(cutoffs[:select])])
    scored = errors[errors["cutoff"].isin(cutoffs[select:])] if score else errors
    scored = _with_chosen(scored, chosen)
    return Backtest(chosen, _by_horizon(scored), _overall(scored), select, score)


def choose(series: list[Series], setup: Setup = DAILY, origins: int = 2, models: tuple[str, ...] = CANDIDATES) -> dict[str, str]:
    """Only the choice, from the last `origins` origins a season apart (what a forecast run needs).

    A history too short to test the whole horizon is tested on the horizon it allows (a season at least):
    a demo month still chooses by backtest, on its last weeks."""
    check(series, setup)
    shortest = min(len(one.values) for one in series)
    horizon = min(setup.horizon, shortest - 2 * setup.season - setup.season * (origins - 1))
    if horizon < setup.season:
        raise ForecastError("history_too_short", f"{shortest} observations cannot test {origins} origins "
                            f"of at least {setup.season}")
    return backtest(series, replace(setup, horizon=horizon), select=origins, score=0, step=setup.season,
                    models=models).chosen


def _errors(cv, series: list[Series], setup: Setup, methods: tuple[str, ...]):
    """One row per series, origin, horizon step and method: absolute, scaled and percentage errors."""
    import pandas as pd

    values = {one.key: np.asarray(one.values, dtype=float) for one in series}
    first = {one.key: one.first_day for one in series}
    cv = cv.sort_values(["unique_id", "cutoff", "ds"]).reset_index(drop=True)
    cv["step"] = cv.groupby(["unique_id", "cutoff"]).cumcount()
    scale = {}
    for key, cutoff in cv[["unique_id", "cutoff"]].drop_duplicates().itertuples(index=False):
        end = (cutoff.date() - first[key]).days + 1 if setup.calendar else int(cutoff) + 1
        scale[(key, cutoff)] = _naive_mae(values[key][:end], setup.season)
    cv["scale"] = [scale[k] for k in zip(cv["unique_id"], cv["cutoff"])]
    rows = []
    for method in methods:
        error = (cv[method] - cv["y"]).abs()
        denom = cv["y"].abs() + cv[method].abs()
        rows.append(pd.DataFrame({
            "unique_id": cv["unique_id"], "cutoff": cv["cutoff"], "step": cv["step"], "method": method,
            "bucket": cv["step"] // setup.bucket, "scaled": error / cv["scale"],
            "smape": np.where(denom > 0, 2 * error / denom.where(denom > 0, 1), 0.0),
            "ape": np.where(cv["y"] != 0, error / cv["y"].abs().where(cv["y"] != 0, 1), np.nan)}
            | {f"in{level}": ((cv[f"{method}-lo-{level}"] <= cv["y"]) & (cv["y"] <= cv[f"{method}-hi-{level}"])).astype(float)
               for level in LEVELS}))
    return pd.concat(rows, ignore_index=True)


def _naive_mae(history: np.ndarray, season: int) -> float:
    diffs = np.abs(history[season:] - history[:-season])
    mae = float(diffs.mean()) if len(diffs) else 0.0
    return mae if mae > 0 else 1.0  # a flat history: errors count in minor units


def _choose(errors) -> dict[str, str]:
    candidates = errors[errors["method"] != BASELINE]
    mean = candidates.groupby(["unique_id", "method"])["scaled"].mean().reset_index()
    best = mean.loc[mean.groupby("unique_id")["scaled"].idxmin()]
    return dict(zip(best["unique_id"], best["method"]))


def _with_chosen(errors, chosen: dict[str, str]):
    import pandas as pd

    picked = errors[errors["method"] == errors["unique_id"].map(chosen)].assign(method="chosen")
    return pd.concat([errors, picked], ignore_index=True)


def _by_horizon(errors) -> list[dict]:
    table = errors.groupby(["bucket", "method"]).agg(mase=("scaled", "mean"), smape=("smape", "mean"), mape=("ape", "mean"))
    rows = []
    for bucket in sorted(errors["bucket"].unique()):
        part = table.loc[bucket]
        rows.append({"horizon": int(bucket) + 1, "methods": {m: _figures(part.loc[m]) for m in part.index}})
    return rows


def _overall(errors) -> dict[str, dict[str, float]]:
    """The errors, and how often the actual fell inside each interval (80 % and 95 % if they are honest)."""
    table = errors.groupby("method").agg(mase=("scaled", "mean"), smape=("smape", "mean"), mape=("ape", "mean"),
                                         **{f"coverage_{level}": (f"in{level}", "mean") for level in LEVELS})
    return {method: _figures(table.loc[method], tuple(table.columns)) for method in table.index}


def _figures(row, names: tuple[str, ...] = ("mase", "smape", "mape")) -> dict[str, float | None]:
    return {name: round(float(row[name]), 4) if np.isfinite(row[name]) else None for name in names}
