"""`juhe bench payments`, run small over the real layout (API + worker, sandboxes, and the load
generator in separate processes): one JSON object of positive figures, the ratio is rate over
baseline, and the percentiles are measured latencies."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from juhe.bench.payments import PaymentsResult, _cpu_note, percentile
from juhe.cli import app

KEYS = {"payments_per_s", "baseline_rps", "ratio", "p50_ms", "p99_ms"}


def test_bench_payments_prints_one_json_object_of_its_figures():
    answer = CliRunner().invoke(app, ["bench", "payments", "--payments", "40", "--concurrency", "4", "--json"])
    assert answer.exit_code == 0, answer.output
    figures = json.loads(answer.stdout.strip().splitlines()[-1])
    assert set(figures) == KEYS
    for key in KEYS:
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, key
    assert figures["ratio"] == pytest.approx(figures["payments_per_s"] / figures["baseline_rps"], rel=1e-3, abs=5e-5)
    assert figures["p50_ms"] <= figures["p99_ms"]
    assert figures["p50_ms"] < 30_000  # a payment that never completed would have failed the run


def test_percentiles_are_measured_values_and_the_table_names_the_aims():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    result = PaymentsResult(payments=10, concurrency=2, database="SQLite", payments_per_s=50.0, baseline_rps=400.0,
                            latencies_ms=[float(i) for i in range(10, 110, 10)])
    assert result.figures() == {"payments_per_s": 50.0, "baseline_rps": 400.0, "ratio": 0.125, "p50_ms": 50.0,
                                "p99_ms": 100.0}
    text = " ".join(result.report().notes)
    assert "p99 100.0 ms" in text and "≤ 150 ms" in text
    note = _cpu_note({"client": 1.0, "api": 2.0, "sandbox-alipay": 0.0}, {"client": 1.1, "api": 2.5, "sandbox-alipay": 0.2},
                     payments=100, elapsed_s=1.0)
    assert note.startswith("CPU per complete payment: 8.0 ms (client 1.0, api 5.0, sandboxes 2.0)")
