"""`juhe bench risk`, run small: every figure is there, latencies are ordered, the ratio is the
ratio, and an HTTP decide callable is timed beside the in-process one."""

from __future__ import annotations

import json

import pytest

from juhe.bench.risk import BenchError, run
from juhe.risk.engine import RiskEngine


def test_bench_reports_in_process_baseline_and_http(capsys):
    called = []
    other_engine = RiskEngine()

    def http_decide(payment, now):  # stands in for a client of the API's decide endpoint
        called.append(payment.payment_id)
        return other_engine.decide(payment, now)

    result = run(decisions=400, payers=200, http_decide=http_decide)
    figures = json.loads(json.dumps(result.figures()))
    assert set(figures) == {"in_process", "baseline", "ratio", "http"}
    for key in ("in_process", "http"):
        assert set(figures[key]) == {"decisions_per_s", "p50_ms", "p99_ms"}
    assert figures["baseline"]["lookups_per_s"] > 0
    for section in ("in_process", "baseline", "http"):
        assert 0 < figures[section]["p50_ms"] <= figures[section]["p99_ms"]
    assert figures["ratio"] == pytest.approx(figures["in_process"]["decisions_per_s"] / figures["baseline"]["lookups_per_s"],
                                             rel=1e-3)
    assert len(called) == 400 == result.decisions.calls == result.baseline.calls
    assert sum(result.actions.values()) == 400 and result.model_version
    result.print(as_json=True)
    assert json.loads(capsys.readouterr().out) == figures
    result.print()
    table = capsys.readouterr().out
    assert "decide()" in table and "p99" in table and "HTTP" in table


def test_bench_refuses_more_decisions_than_traffic():
    with pytest.raises(BenchError):
        run(decisions=10**7, payers=50)
    with pytest.raises(BenchError):
        run(decisions=0)
