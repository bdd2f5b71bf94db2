"""`juhe bench risk` over HTTP, run small: the API served in this process answers every timed
payment from an engine loaded from the registry it was given, and the figures hang together."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest

from juhe.bench.risk import BenchError, api_server, decision_request, run
from juhe.risk.facts import PaymentFacts
from juhe.risk.generator import generate
from juhe.risk.replay import feature_frame
from juhe.risk.rules import parse_rules
from juhe.risk.train import TrainingOptions, train_model

FIGURE_KEYS = {"decisions_per_s", "p50_ms", "p99_ms"}


def facts(n: int, amount_minor: int = 1_288, **changes) -> PaymentFacts:
    values = {"payment_id": f"p{n}", "payer_id": f"payer-{n}", "merchant_id": "m", "merchant_category": "grocery",
              "amount_minor": amount_minor, "currency": "CNY", "occurred_at": datetime.now(timezone.utc),
              "card_id": f"card-{n}", "device_id": f"dev-{n}", "ip": "101.80.1.2", "latitude": 31.23, "longitude": 121.47}
    return PaymentFacts(**(values | changes))


@pytest.fixture(scope="module")
def model():
    history = generate(120, 5, 3, warmup_days=2, fraud_episodes_per_payer=0.5)
    return train_model(feature_frame(history, warmup_days=2), TrainingOptions(rounds=20, min_data_in_leaf=10))


def test_the_bench_times_the_same_payments_over_http_and_reports_them(model, capsys):
    threads_before = threading.active_count()
    result = run(decisions=300, payers=200, model=model, over_http=True)
    figures = json.loads(json.dumps(result.figures()))
    assert set(figures) == {"in_process", "baseline", "ratio", "http"}
    assert set(figures["http"]) == FIGURE_KEYS == set(figures["in_process"])
    http = figures["http"]
    assert 0 < http["p50_ms"] <= http["p99_ms"] and http["decisions_per_s"] > 0
    # One call at a time: the rate is the inverse of the mean latency.
    mean_ms = sum(result.http.latencies_ms) / result.http.calls
    assert http["decisions_per_s"] == pytest.approx(1000 / mean_ms, rel=0.01)
    assert result.http.calls == result.decisions.calls == 300 == sum(result.http_actions.values())
    assert set(result.http_actions) <= {"allow", "step_up", "block"}
    # The served engine decides each payment at its moment in the history, as in process: the same
    # features, so nearly the same actions (only step-ups verified in process teach it more).
    assert abs(result.http_actions.get("allow", 0) - result.actions.get("allow", 0)) <= 9
    assert threading.active_count() <= threads_before  # the server stopped with the benchmark
    result.print(as_json=True)
    assert json.loads(capsys.readouterr().out) == figures
    result.print()
    table = capsys.readouterr().out
    assert "POST /v1/risk/decisions" in table and "Actions over HTTP" in table


def test_the_served_engine_is_loaded_from_the_registry_it_was_given(model):
    rules = parse_rules({"version": "bench-strict", "rules": [
        {"id": "BIG", "if": {"feature": "amount_minor", "op": ">=", "value": 100_000}, "then": "block"}]})
    with api_server(model, rules, []) as decide:
        small = decide(facts(1), None)
        large = decide(facts(2, 150_000), None)
    assert (small.model_version, small.rules_version) == (model.version, "bench-strict")
    assert large.action == "block" and any(reason.startswith("rule BIG") for reason in large.reasons)
    assert small.action in ("allow", "step_up", "block") and 0 <= small.score <= 1


def test_a_payment_is_sent_with_every_fact_the_engine_needs():
    body = decision_request(facts(3))
    assert body == {"amount_minor": 1_288, "currency": "CNY", "customer_id": "payer-3", "merchant_category": "grocery",
                    "payer": {"device_id": "dev-3", "client_ip": "101.80.1.2", "card_token": "card-3",
                              "latitude": 31.23, "longitude": 121.47}}
    assert "latitude" not in decision_request(facts(4, latitude=None, longitude=None))["payer"]


def test_a_refused_request_stops_the_bench(model):
    with pytest.raises(BenchError) as refused:
        with api_server(model, parse_rules({"version": "v", "rules": []}), []) as decide:
            decide(facts(5, amount_minor=-1), None)
    assert "422" in str(refused.value) and "bad_payment" in str(refused.value)

