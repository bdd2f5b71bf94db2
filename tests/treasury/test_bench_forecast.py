"""`juhe bench forecast` at a small size: both sets beside seasonal-naive, and the advice followed on the demo."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from juhe.cli import app


def test_bench_forecast_prints_the_backtest_beside_seasonal_naive_and_the_idle_balance():
    result = CliRunner().invoke(app, ["bench", "forecast", "--json", "--models", "AutoETS", "--demo-days", "200",
                                      "--public-series", "3", "--select", "1", "--score", "1"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for name in ("demo", "public"):
        one = figures[name]
        assert one["series"] == 3 and one["baseline_mase"] > 0 and one["backtest_s_per_1000_series"] > 0
        assert one["mase_ratio"] == round(one["mase"] / one["baseline_mase"], 4) or abs(
            one["mase_ratio"] - one["mase"] / one["baseline_mase"]) < 1e-3
        assert 0 <= one["coverage_80"] <= one["coverage_95"] <= 1
    assert figures["demo"]["horizon"] == 91 and len(figures["demo"]["by_horizon"]) == 13
    assert figures["public"]["horizon"] == 18 and len(figures["public"]["by_horizon"]) == 3
    swept, kept = figures["advice"]
    assert swept["settlement"] == "T+1 sweep" and kept["settlement"] == "kept on Juhe"
    # Swept daily, nothing is idle for long; kept, most of it is placed and no day runs short
    assert kept["idle_after_minor_avg"] < 0.5 * kept["idle_before_minor_avg"] and kept["shortfall_days"] == 0
    assert kept["expected_yield_minor"] > 0 and swept["idle_after_minor_avg"] <= swept["idle_before_minor_avg"]


def test_bench_forecast_refuses_an_unknown_model():
    result = CliRunner().invoke(app, ["bench", "forecast", "--models", "Prophet", "--demo-days", "200"])
    assert result.exit_code == 1 and "unknown_model" in result.output
