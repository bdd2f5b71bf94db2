"""Fraud learned late: reports reach the features only once they arrive, and a jump in confirmed
fraud at a terminal puts its payments under step-up until reviewed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import polars as pl

from juhe.risk.compromise import ScopeFigures, after_fraud_report, jumped
from juhe.risk.dataset import HISTORY, payment_row
from juhe.risk.default_rules import default_rules
from juhe.risk.engine import RiskEngine
from juhe.risk.facts import PaymentFacts
from juhe.risk.replay import events, feature_frame
from juhe.risk.store import InMemoryFeatureStore

T0 = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def facts(n: int, at: datetime, terminal: str = "T1", amount_minor: int = 5_000) -> PaymentFacts:
    return PaymentFacts(f"p{n}", f"payer{n}", "M1", "grocery", amount_minor, "CNY", at, f"card{n}", f"unknown:p{n}",
                        "58.16.0.1", terminal_id=terminal, store_id="S1")


def row(n: int, at: datetime, fraud: str | None, terminal: str = "T1") -> dict:
    r = payment_row(f"payer{n}", "M1", "grocery", 5_000, at, f"card{n}", f"unknown:p{n}", "58.16.0.1", None, None, fraud)
    return r | {"payment_id": f"p{n}", "terminal_id": terminal, "store_id": "S1"}


def test_a_fraud_report_counts_only_from_when_it_arrives():
    engine = RiskEngine(InMemoryFeatureStore(), rules=default_rules())
    stolen = facts(1, T0)
    engine.decide(stolen, T0)
    before = engine.decide(facts(2, T0 + timedelta(days=8)), T0 + timedelta(days=8))
    assert before.features["terminal_frauds_known_30d"] == 0
    assert before.features["terminal_fraud_rate_7d_delayed"] == 0
    engine.pipeline.store.record_fraud_report(stolen, 1)  # the chargeback arrives on day 8
    after = engine.decide(facts(3, T0 + timedelta(days=8, hours=1)), T0 + timedelta(days=8, hours=1))
    assert after.features["terminal_frauds_known_30d"] == 1
    assert after.features["terminal_payments_1d_delayed"] == 1 and after.features["terminal_fraud_rate_1d_delayed"] == 1.0
    assert after.features["store_frauds_known_30d"] == 1 and after.features["merchant_frauds_known_30d"] == 1
    engine.pipeline.store.record_fraud_report(stolen, -1)  # corrected: it was genuine after all
    corrected = engine.decide(facts(4, T0 + timedelta(days=8, hours=2)), T0 + timedelta(days=8, hours=2))
    assert corrected.features["terminal_frauds_known_30d"] == 0


def test_no_label_reaches_a_decision_made_before_the_label_was_known():
    rows = [row(1, T0, "compromised_terminal"), row(2, T0 + timedelta(days=3), None),
            row(3, T0 + timedelta(days=6, hours=23), None), row(4, T0 + timedelta(days=7, hours=1), None)]
    history = pl.DataFrame(rows, schema=HISTORY)
    replayed = list(events(history, 0, label_delay_days=7))
    assert [e.payment.payment_id + ("!" if e.report else "") for e in replayed] == ["p1", "p2", "p3", "p1!", "p4"]
    frame = feature_frame(history, warmup_days=0, label_delay_days=7)
    known = dict(zip(frame["payment_id"], frame["terminal_frauds_known_30d"]))
    assert known == {"p1": 0, "p2": 0, "p3": 0, "p4": 1}
    blind = feature_frame(history, warmup_days=0, label_delay_days=None)  # labels never arrive: nothing learned
    assert blind["terminal_frauds_known_30d"].sum() == 0


def test_payer_day_windows_and_the_deviation_of_this_amount():
    engine = RiskEngine(InMemoryFeatureStore())
    for day in range(5):
        at = T0 + timedelta(days=day)
        engine.decide(PaymentFacts(f"q{day}", "payer", "M1", "grocery", 1_000, "CNY", at, "card", "d", "58.16.0.1"), at)
    at = T0 + timedelta(days=5)
    big = engine.decide(PaymentFacts("q5", "payer", "M1", "grocery", 5_000, "CNY", at, "card", "d", "58.16.0.1"), at)
    assert big.features["payer_count_30d"] == 6 and big.features["payer_count_1d"] == 2  # yesterday's bucket overlaps
    assert big.features["amount_to_mean_30d"] == 5.0
    assert big.features["payer_mean_amount_30d"] == (5 * 1_000 + 5_000) / 6


def test_card_testing_counts_small_authorisations_at_one_terminal():
    engine = RiskEngine(InMemoryFeatureStore())
    decision = None
    for n in range(6):
        at = T0 + timedelta(seconds=10 * n)
        decision = engine.decide(facts(n, at, amount_minor=100), at)
    assert decision.features["terminal_small_count_1h"] == 6 and decision.features["terminal_count_1m"] == 6


def test_a_jump_in_confirmed_fraud_is_one_well_above_the_scopes_past():
    assert jumped(ScopeFigures(recent_payments=40, recent_frauds=6, before_payments=100, before_frauds=0))
    assert not jumped(ScopeFigures(recent_payments=40, recent_frauds=2, before_payments=100, before_frauds=0))
    assert not jumped(ScopeFigures(recent_payments=400, recent_frauds=6, before_payments=100, before_frauds=0))
    assert not jumped(ScopeFigures(recent_payments=40, recent_frauds=6, before_payments=100, before_frauds=10))


def test_a_compromised_terminal_steps_up_all_its_payments_until_reviewed():
    store = InMemoryFeatureStore()
    engine = RiskEngine(store, rules=default_rules())
    stolen = [facts(n, T0 + timedelta(hours=n)) for n in range(4)]
    for payment in stolen:
        engine.decide(payment, payment.occurred_at)
    now = T0 + timedelta(days=7)
    opened = {}
    for payment in stolen:
        store.record_fraud_report(payment, 1)
        opened |= after_fraud_report(store, payment, now)
    assert set(opened) == {"terminal|T1"} and opened["terminal|T1"].recent_frauds >= 3  # its store pays on
    at_terminal = engine.decide(facts(10, now), now)
    elsewhere = engine.decide(replace(facts(11, now, terminal="T2"), store_id="S2", merchant_id="M2"), now)
    assert at_terminal.action == "step_up" and any("R7" in reason for reason in at_terminal.reasons)
    assert at_terminal.features["under_compromise_review"] and elsewhere.features["under_compromise_review"] is False
    for key in opened:
        store.close_review(key, now)
    assert engine.decide(facts(12, now), now).action == "allow"


def test_fraud_spread_over_a_stores_terminals_puts_the_store_under_review():
    store = InMemoryFeatureStore()
    engine = RiskEngine(store, rules=default_rules())
    spread = [facts(n, T0 + timedelta(hours=n), terminal=f"T{n}") for n in range(4)]  # one each: no terminal jumps
    for payment in spread:
        engine.decide(payment, payment.occurred_at)
    now, opened = T0 + timedelta(days=7), {}
    for payment in spread:
        store.record_fraud_report(payment, 1)
        opened |= after_fraud_report(store, payment, now)
    assert set(opened) == {"store|S1", "merchant|M1"}
    assert engine.decide(facts(20, now, terminal="T9"), now).action == "step_up"
