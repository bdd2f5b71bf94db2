"""The decision per payment: tiers, verification, reasons, bad input, and model swaps under load."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from juhe.risk.default_rules import default_rules
from juhe.risk.engine import DecisionPolicy, RiskEngine
from juhe.risk.facts import PaymentFacts, RiskError
from juhe.risk.generator import generate
from juhe.risk.model import RiskModel, Thresholds
from juhe.risk.replay import feature_frame
from juhe.risk.train import TrainingOptions, train_model

T0 = datetime(2026, 3, 10, 4, 0, tzinfo=timezone.utc)


def small_model(seed: int) -> RiskModel:
    history = generate(300, 10, seed, warmup_days=4, fraud_episodes_per_payer=0.4)
    return train_model(feature_frame(history, warmup_days=4), TrainingOptions(rounds=40, seed=seed))


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return small_model(5)


def with_thresholds(model: RiskModel, step_up: float, block: float, version: str) -> RiskModel:
    return dataclasses.replace(model, thresholds=Thresholds(step_up, block), version=version)


def payment(n: int = 0, *, amount: int = 3_000, currency: str = "CNY", device: str = "d1", at: datetime = T0,
            payer: str = "p1") -> PaymentFacts:
    return PaymentFacts(f"t{n}", payer, "m1", "grocery", amount, currency, at, "c1", device, "58.16.1.2", 39.9, 116.4)


def test_without_a_model_a_small_payment_is_allowed_without_verification():
    decision = RiskEngine().decide(payment(), T0)
    assert (decision.action, decision.verification, decision.score) == ("allow", "none", 0.0)
    assert decision.reasons == [] and decision.model_version is None and decision.rules_version == "none"
    assert decision.features["amount_minor"] == 3_000


def test_large_amounts_are_always_stepped_up_with_face_verification():
    policy = DecisionPolicy(step_up_amount_minor=2_000_000, face_amount_minor=500_000)
    decision = RiskEngine(policy=policy).decide(payment(amount=2_000_000), T0)
    assert (decision.action, decision.verification) == ("step_up", "otp_face")
    assert "always verified" in decision.reasons[0]


def test_a_block_rule_blocks_and_names_itself():
    engine = RiskEngine(rules=default_rules())
    decisions = [engine.decide(payment(i, at=T0 + timedelta(seconds=i)), T0 + timedelta(seconds=i)) for i in range(5)]
    assert [d.action for d in decisions] == ["allow"] * 4 + ["block"]
    assert decisions[-1].verification == "none"
    assert decisions[-1].reasons[0].startswith("rule R4 (block): card tested")


def test_a_score_above_step_up_asks_for_otp_on_small_amounts_and_explains(model):
    engine = RiskEngine(model=with_thresholds(model, 0.0, 1.0, "always-step-up"))
    decision = engine.decide(payment(amount=3_000), T0)
    assert (decision.action, decision.verification) == ("step_up", "otp")
    assert decision.reasons[0].startswith("score ") and "step-up" in decision.reasons[0]
    contributions = decision.reasons[1:]
    assert 1 <= len(contributions) <= 3 and all(r.split()[0] in decision.features for r in contributions)
    assert decision.model_version == "always-step-up"


def test_a_score_above_block_blocks(model):
    decision = RiskEngine(model=with_thresholds(model, 0.0, 0.0, "always-block")).decide(payment(), T0)
    assert decision.action == "block" and decision.verification == "none"


def test_the_score_is_the_models_probability(model):
    decision = RiskEngine(model=model).decide(payment(), T0)
    assert 0.0 <= decision.score <= 1.0
    assert decision.score == pytest.approx(model.score(decision.features), abs=1e-6)


def test_a_currency_the_model_never_saw_is_stepped_up(model):
    decision = RiskEngine(model=model).decide(payment(currency="USD"), T0)
    assert decision.action == "step_up" and decision.score == 0.0
    assert "scores CNY only, not USD" in decision.reasons[0]


def test_bad_facts_are_rejected_and_change_nothing():
    engine = RiskEngine()
    for bad in (payment(amount=0), dataclasses.replace(payment(), occurred_at=datetime(2026, 3, 10)),
                dataclasses.replace(payment(), currency="XXX"), dataclasses.replace(payment(), device_id=""),
                dataclasses.replace(payment(), latitude=None), dataclasses.replace(payment(), amount_minor=10.0)):
        with pytest.raises(RiskError) as caught:
            engine.decide(bad, T0)
        assert caught.value.code == "bad_payment"
    assert engine.decide(payment(), T0).features["payer_count_1m"] == 1  # nothing was recorded before


def test_decisions_count_attempts_and_confirm_teaches_the_profile():
    engine = RiskEngine()
    first = engine.decide(payment(0, device="new"), T0)
    assert first.features["new_device"]
    second = engine.decide(payment(1, device="new"), T0 + timedelta(seconds=5))
    assert second.features["payer_count_1m"] == 2 and second.features["new_device"]  # attempts alone teach nothing
    engine.confirm(payment(1, device="new"), T0 + timedelta(seconds=5))
    assert not engine.decide(payment(2, device="new"), T0 + timedelta(seconds=9)).features["new_device"]


def test_the_model_swaps_atomically_under_concurrent_decisions(model):
    other = small_model(6)
    models = {"a": with_thresholds(model, 0.0, 1.0, "a"), "b": with_thresholds(other, 1.0, 1.0, "b")}
    engine = RiskEngine(model=models["a"])
    problems, seen, stop = [], set(), threading.Event()

    def decide_until_stopped(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            decision = engine.decide(payment(n, payer=f"p{worker}-{n % 50}"), T0 + timedelta(seconds=n))
            used = models[decision.model_version]
            seen.add(decision.model_version)
            expected = "step_up" if decision.model_version == "a" else "allow"
            if decision.action != expected or abs(decision.score - used.score(decision.features)) > 1e-6:
                problems.append((decision.model_version, decision.action, decision.score))

    workers = [threading.Thread(target=decide_until_stopped, args=(w,)) for w in range(3)]
    for worker in workers:
        worker.start()
    for i in range(200):
        previous = engine.swap_model(models["b" if i % 2 == 0 else "a"])
        assert previous is models["a" if i % 2 == 0 else "b"]
        time.sleep(0.002)  # let the deciders run under each model in turn
    stop.set()
    for worker in workers:
        worker.join()
    assert problems == [] and seen == {"a", "b"}


def test_rules_swap_and_policy_is_validated():
    engine = RiskEngine()
    assert engine.swap_rules(default_rules()).version == "none"
    assert engine.rules.version == "default-2"
    with pytest.raises(RiskError) as caught:
        DecisionPolicy(face_amount_minor=0)
    assert caught.value.code == "bad_policy"
