"""`juhe bench trace`: both sides measured in the same run, the stored root checked, the --json keys."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from juhe.bench import trace
from juhe.cli import app


def test_bench_trace_prints_rates_beside_the_sha256_baseline():
    result = CliRunner().invoke(app, ["bench", "trace", "--events", "3000", "--batch", "500", "--only", "sqlite", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)["sqlite"]
    assert set(figures) == {"batch_appends_per_s", "baseline_batch_appends_per_s", "batch_ratio"}
    assert figures["batch_appends_per_s"] > 0 and figures["baseline_batch_appends_per_s"] > figures["batch_appends_per_s"]
    assert figures["batch_ratio"] == round(figures["batch_appends_per_s"] / figures["baseline_batch_appends_per_s"], 4)


@pytest.mark.parametrize("options", [{"only": "oracle"}, {"events": 0}, {"batch": 10_001}])
def test_bench_trace_refuses_bad_options(options):
    with pytest.raises(trace.BenchError):
        trace.run(**options)
    refused = CliRunner().invoke(app, ["bench", "trace", "--only", "oracle"])
    assert refused.exit_code == 1 and "--only" in refused.output
