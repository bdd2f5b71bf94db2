"""`juhe bench load`, run for 20 s: Locust's clients against PostgreSQL and two API processes,
the figures as one JSON object, and the ledger proven after."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from juhe.bench.load import _read_stats
from juhe.cli import app

KEYS = {"clients", "duration_s", "api_processes", "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms",
        "error_rate", "baseline_per_s", "ratio", "ledger_ok", "payments", "refunds"}


def test_load_mix_for_20_seconds_keeps_the_ledger_and_errs_nowhere():
    answer = CliRunner().invoke(app, ["bench", "load", "--clients", "8", "--duration-s", "20", "--json"])
    assert answer.exit_code == 0, answer.output
    figures = json.loads(answer.stdout.strip().splitlines()[-1])
    assert set(figures) == KEYS
    assert figures["ledger_ok"] is True
    assert figures["error_rate"] == 0.0
    assert figures["requests"] > 100 and figures["payments"] > 20 and figures["refunds"] > 0
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert figures["ratio"] == pytest.approx(figures["requests_per_s"] / figures["baseline_per_s"], rel=0.01)


@pytest.mark.parametrize("args", [["--clients", "0"], ["--duration-s", "0"], ["--api-processes", "0"]])
def test_load_refuses_bad_options(args):
    answer = CliRunner().invoke(app, ["bench", "load", *args])
    assert answer.exit_code == 1 and "at least 1" in answer.output


def test_stats_are_read_per_request_and_aggregated(tmp_path):
    path = tmp_path / "mix_stats.csv"
    header = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time," \
             "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
    path.write_text(header + "\nPOST,create payment,90,1,30,31,5,90,400,9.0,0.1,30,33,35,40,50,60,70,80,90,90,90"
                             "\n,Aggregated,100,1,25,26,2,90,300,10.0,0.1,25,30,32,35,45,55,65,75,90,90,90\n")
    phase = _read_stats(path)
    assert (phase.requests, phase.failures, phase.requests_per_s, phase.p95_ms) == (100, 1, 10.0, 55.0)
    assert phase.error_rate == 0.01 and phase.by_name["create payment"]["p99_ms"] == 80.0
