"""`juhe bench payments`, run small over the real layout (API + worker, sandboxes, and the load
generator in separate processes): one JSON object of positive figures, the ratio is rate over
baseline, and the percentiles are measured latencies."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from juhe.bench.payments import PaymentsResult, PaymentsSuite, _cpu_note, percentile
from juhe.cli import app

KEYS = {"payments_per_s", "baseline_per_s", "ratio", "p50_ms", "p95_ms", "p99_ms", "commits_per_payment",
        "api_processes", "loop_stalls"}


def _figures(args: list[str]) -> dict:
    answer = CliRunner().invoke(app, ["bench", "payments", "--payments", "40", "--concurrency", "4", "--json", *args])
    assert answer.exit_code == 0, answer.output
    return json.loads(answer.stdout.strip().splitlines()[-1])


def _check(run: dict) -> None:
    assert KEYS <= set(run)
    for key in KEYS - {"loop_stalls"}:
        assert isinstance(run[key], (int, float)) and run[key] > 0, key
    assert run["ratio"] == pytest.approx(run["payments_per_s"] / run["baseline_per_s"], rel=1e-3, abs=5e-5)
    assert run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"] < 30_000  # a payment never completed fails the run
    # The loop-lag probe: during the measured payments no API or worker loop woke more than 50 ms late.
    assert run["loop_stalls"] == 0
    # create, channel answer, success (+ the worker's batched webhook claim and outcome, shared by
    # the payments of one round; at 4 payers a round carries about one)
    assert 3 <= run["commits_per_payment"] <= 5.5


def test_bench_payments_on_sqlite_prints_one_json_object_of_its_figures():
    figures = _figures(["--only", "sqlite"])
    assert set(figures) == {"sqlite"}
    _check(figures["sqlite"])
    assert figures["sqlite"]["api_processes"] == 1


def test_bench_payments_on_postgresql_with_two_api_processes():
    figures = _figures(["--only", "postgresql", "--api-processes", "2"])
    assert set(figures) == {"postgresql"}
    _check(figures["postgresql"])
    assert figures["postgresql"]["api_processes"] == 2


@pytest.mark.parametrize("args, message", [(["--only", "oracle"], "--only"), (["--api-processes", "two"], "--api-processes"),
                                           (["--api-processes", "0"], "--api-processes")])
def test_bench_payments_refuses_bad_options(args, message):
    answer = CliRunner().invoke(app, ["bench", "payments", *args])
    assert answer.exit_code != 0 and message in answer.output


def test_percentiles_are_measured_values_and_the_suite_reports_each_database():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    one = PaymentsResult(payments=10, concurrency=2, database="SQLite", payments_per_s=50.0, baseline_per_s=400.0,
                         latencies_ms=[float(i) for i in range(10, 110, 10)], commits=31.0)
    assert one.figures() == {"payments_per_s": 50.0, "baseline_per_s": 400.0, "ratio": 0.125, "p50_ms": 50.0,
                             "p95_ms": 100.0, "p99_ms": 100.0, "commits_per_payment": 3.1, "api_processes": 1,
                             "loop_stalls": 0}
    pg = [PaymentsResult(10, 2, "PostgreSQL", rate, 400.0, [20.0], api_processes=n, commits=30.0)
          for n, rate in ((1, 80.0), (2, 120.0))]
    figures = PaymentsSuite([one, *pg]).figures()
    assert figures["sqlite"]["payments_per_s"] == 50.0
    assert figures["postgresql"]["api_processes"] == 2 and figures["postgresql"]["payments_per_s"] == 120.0
    assert figures["postgresql"]["by_api_processes"]["1"]["payments_per_s"] == 80.0
    note = _cpu_note({"client": 1.0, "api": 2.0, "sandbox-alipay": 0.0}, {"client": 1.1, "api": 2.5, "sandbox-alipay": 0.2},
                     payments=100, elapsed_s=1.0)
    assert note.startswith("CPU per complete payment: 8.0 ms (client 1.0, api 5.0, sandboxes 2.0)")
