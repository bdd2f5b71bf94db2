"""The decision per payment: allow, step up (OTP, or OTP + face) or block.

    engine = RiskEngine(InMemoryFeatureStore(), model=registry.active_model(),
                        rules=registry.active_rules() or default_rules())
    decision = engine.decide(payment, now)          # records the attempt in the velocity store
    ... the payment goes through (allowed, or stepped up and verified) ...
    engine.confirm(payment, now)                    # the payer's profile learns from it

How the action is chosen (the most severe wins):
- a rule that fires: its `then` (step_up or block);
- the model's score: >= block_score blocks, >= step_up_score steps up (thresholds travel
  with the model, chosen on a validation split when it was trained);
- the amount: at or above `step_up_amount_minor` always steps up;
- a currency the model was not trained on is stepped up (its score would mean nothing).
A step-up asks for `otp`, or `otp_face` from `face_amount_minor` up: small amounts pass with
the passive checks alone unless something is wrong. Reasons name the rules that fired, the
score against its threshold and, for anything but allow, the features that pushed the score
up most (LightGBM pred_contrib; computed only then, as it costs ~70x a plain score: ~2 ms).

The model and the rules are swapped by replacing one immutable `_Active` reference: a
decision reads it once, so it never mixes one model's booster with another's thresholds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

from juhe.risk.facts import ACTIONS, Action, Decision, PaymentFacts, RiskError, Verification, check_payment
from juhe.risk.geo import RegionDirectory
from juhe.risk.model import RiskModel
from juhe.risk.pipeline import FeaturePipeline, Features
from juhe.risk.rules import Rule, RuleSet
from juhe.risk.store import FeatureStore, InMemoryFeatureStore

NO_RULES = RuleSet("none", ())


@dataclass(frozen=True, slots=True)
class DecisionPolicy:
    scene_limit_minor: int = 500_000  # per-payment cap of the QR scene (5,000.00 CNY): cash-out clusters just under it
    step_up_amount_minor: int = 2_000_000  # 20,000.00 CNY and more: always verified, whatever the score
    face_amount_minor: int = 500_000  # step-ups from 5,000.00 CNY ask for OTP and face
    reasons_max: int = 3  # top contributing features named in a decision

    def __post_init__(self) -> None:
        if min(self.scene_limit_minor, self.step_up_amount_minor, self.face_amount_minor, self.reasons_max) < 1:
            raise RiskError("bad_policy", "limits and reasons_max must be positive")


@dataclass(frozen=True, slots=True)
class _Active:
    model: RiskModel | None
    rules: RuleSet
    policy: DecisionPolicy


class RiskEngine:
    def __init__(self, store: FeatureStore | None = None, *, model: RiskModel | None = None, rules: RuleSet | None = None,
                 policy: DecisionPolicy | None = None, regions: RegionDirectory | None = None):
        policy = policy or DecisionPolicy()
        self.pipeline = FeaturePipeline(store or InMemoryFeatureStore(), regions or RegionDirectory(),
                                        policy.scene_limit_minor)
        self._active = _Active(model, rules or NO_RULES, policy)
        self._swap_lock = threading.Lock()  # writers only: two swaps must not lose each other's half

    @property
    def model(self) -> RiskModel | None:
        return self._active.model

    @property
    def rules(self) -> RuleSet:
        return self._active.rules

    def swap_model(self, model: RiskModel | None) -> RiskModel | None:
        """Make `model` the active one (None: rules and amount tiers only); returns the previous one."""
        with self._swap_lock:
            previous = self._active.model
            self._active = replace(self._active, model=model)
        return previous

    def swap_rules(self, rules: RuleSet) -> RuleSet:
        with self._swap_lock:
            previous = self._active.rules
            self._active = replace(self._active, rules=rules)
        return previous

    def decide(self, payment: PaymentFacts, now: datetime) -> Decision:
        check_payment(payment)
        active = self._active  # read once: a concurrent swap changes the next decision, not this one
        features = self.pipeline.observe(payment, now).features
        return decide_with(active.model, active.rules, active.policy, payment, features)

    def confirm(self, payment: PaymentFacts, now: datetime) -> None:
        """The payment went through (allowed, or stepped up and verified): the payer's profile learns it."""
        check_payment(payment)
        self.pipeline.learn(payment, now)

    def record_password_reset(self, payer_id: str, at: datetime) -> None:
        self.pipeline.store.record_password_reset(payer_id, at)


def decide_with(model: RiskModel | None, rules: RuleSet, policy: DecisionPolicy, payment: PaymentFacts,
                features: Features) -> Decision:
    """The decision for computed features (pure apart from the model's arithmetic)."""
    fired = rules.fired(features)
    scored = model is not None and model.currency == payment.currency
    score = model.score(features) if scored else 0.0
    action, reasons = _rule_action(fired)
    if scored:
        action, reasons = _score_action(model, score, action, reasons)
    elif model is not None:
        action = _worse(action, "step_up")
        reasons.append(f"model {model.version} scores {model.currency} only, not {payment.currency}")
    if payment.amount_minor >= policy.step_up_amount_minor:
        action = _worse(action, "step_up")
        reasons.append(f"amount_minor {payment.amount_minor} >= {policy.step_up_amount_minor} is always verified")
    if action != "allow" and scored:
        reasons += [f"{name} {value:+.2f}" for name, value in model.contributions(features, policy.reasons_max)]
    return Decision(action, round(score, 6), reasons, _verification(action, payment.amount_minor, policy), features,
                    model.version if model else None, rules.version)


def _rule_action(fired: list[Rule]) -> tuple[Action, list[str]]:
    action: Action = "allow"
    for rule in fired:
        action = _worse(action, rule.then)
    return action, [f"rule {r.id} ({r.then}): {r.description or 'fired'}" for r in fired]


def _score_action(model: RiskModel, score: float, action: Action, reasons: list[str]) -> tuple[Action, list[str]]:
    if score >= model.thresholds.block_score:
        reasons.append(f"score {score:.3f} >= block {model.thresholds.block_score:.3f}")
        return _worse(action, "block"), reasons
    if score >= model.thresholds.step_up_score:
        reasons.append(f"score {score:.3f} >= step-up {model.thresholds.step_up_score:.3f}")
        return _worse(action, "step_up"), reasons
    return action, reasons


def _worse(a: Action, b: Action) -> Action:
    return a if ACTIONS.index(a) >= ACTIONS.index(b) else b


def _verification(action: Action, amount_minor: int, policy: DecisionPolicy) -> Verification:
    if action != "step_up":
        return "none"
    return "otp_face" if amount_minor >= policy.face_amount_minor else "otp"
