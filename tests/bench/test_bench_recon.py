"""`juhe bench recon`, run small: the figures are there and consistent, and the matcher found every
injected discrepancy and invented none."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from juhe.bench.recon import BUSINESS_DATE, BenchError, baseline, command, run
from juhe.recon.generator import generate_day

KEYS = {"lines", "seconds", "baseline_seconds", "ratio", "injected", "found", "missed", "invented"}


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("recon")(command)
    return app


def test_bench_recon_at_20000_lines_finds_everything():
    result = run(lines=20_000, rate=0.005, seed=7)
    figures = json.loads(json.dumps(result.figures()))
    assert set(figures) == KEYS
    assert figures["missed"] == 0 and figures["invented"] == 0
    assert figures["found"] == figures["injected"] >= 11  # every case at least once
    assert abs(figures["lines"] - 20_000) < 400 and result.orders > 19_000
    assert figures["seconds"] > 0 and figures["baseline_seconds"] > 0
    assert figures["ratio"] == pytest.approx(figures["seconds"] / figures["baseline_seconds"], rel=1e-2)
    assert result.generation_seconds > 0 and result.total_seconds >= result.seconds + result.baseline_seconds


def test_baseline_is_one_row_per_number_with_a_naive_verdict():
    ours, statement, _ = generate_day(500, 3, BUSINESS_DATE, 0.1)
    joined = baseline(statement, ours)
    assert {"matched", "missing_ours", "missing_channel"} <= set(joined["category"])
    assert joined.height >= max(statement.height, ours.height)


def test_cli_json_prints_one_object():
    outcome = CliRunner().invoke(_cli(), ["--lines", "3000", "--rate", "0.02", "--json"])
    assert outcome.exit_code == 0, outcome.output
    figures = json.loads(outcome.stdout)
    assert set(figures) == KEYS and figures["missed"] == 0 and figures["invented"] == 0


def test_cli_prints_a_table_with_the_aims():
    outcome = CliRunner().invoke(_cli(), ["--lines", "2000", "--seed", "3"], terminal_width=200)
    assert outcome.exit_code == 0, outcome.output
    for text in ("lines/s", "baseline s", "ratio", "missed 0, invented 0"):
        assert text in outcome.stdout


@pytest.mark.parametrize("arguments", [dict(lines=0), dict(rate=1.5), dict(lines=50, rate=1.0)])
def test_bad_arguments_are_refused(arguments):
    with pytest.raises(BenchError):
        run(**arguments)


def test_cli_refuses_a_bad_rate_with_exit_1():
    outcome = CliRunner().invoke(_cli(), ["--rate", "2"])
    assert outcome.exit_code == 1 and "--rate" in outcome.output
