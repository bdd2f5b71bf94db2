"""The risk engine behind the payments' risk hook: a payment's facts in, allow / step up / block out.

On a database (`from_registry(folder, db)`, what the app runs) the engine keeps its velocity and
payer profiles there (juhe.risk.dbstore), in the caller's transaction when one is bound
(`bound_session`: a payment's gate), so several API processes and workers score alike; and it
follows the activations in the database (juhe.risk.activation), so an activation in one process
reaches every other within a few seconds. Without one (offline tools) it keeps them in memory.
The active model and rules are read from the risk registry at start; a process without a trained
model decides by the rules and amount tiers alone, and can train a small model in the
background (the demo does) and swap it in without stopping. `activate_rules` and
`activate_model` (the API's /v1/risk) change the registry, the database and this process's engine together.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import structlog

from juhe.db.engine import Database
from juhe.payments.context import RiskDecision
from juhe.risk.activation import ActivationWatch
from juhe.risk.dbstore import DbFeatureStore
from juhe.risk.default_rules import default_rules
from juhe.risk.engine import RiskEngine
from juhe.risk.facts import Decision, PaymentFacts, RiskError
from juhe.risk.model import RiskModel
from juhe.risk.registry import RiskRegistry
from juhe.risk.rules import RuleSet

log = structlog.get_logger()
# What the engine's merchant categories are closest to, per merchant industry.
CATEGORY_OF_INDUSTRY = {"retail": "grocery", "ecommerce": "clothing", "manufacturing": "wholesale", "services": "utilities"}
STORE_DEVICE_SCENARIOS = ("face", "pos")
METHODS = {"none": (), "otp": ("otp",), "otp_face": ("otp", "face")}
DEMO_TRAINING_PAYERS = 600


class EngineRisk:
    def __init__(self, engine: RiskEngine, registry: RiskRegistry | None = None, activations: ActivationWatch | None = None):
        self.engine = engine
        self.registry = registry  # where activations are kept; None: rules and model live in this process only
        self.activations = activations  # None: this process alone decides what is active
        store = engine.pipeline.store
        self._transaction = store.transaction if isinstance(store, DbFeatureStore) else nullcontext
        # Registry and engine change together: two activations must not leave the disk on one
        # version and the engine on the other.
        self._activation_lock = threading.Lock()

    @classmethod
    def from_registry(cls, folder: Path, db: Database | None = None) -> EngineRisk:
        """The engine of a process: on `db`, with the shared feature store and activations."""
        registry = RiskRegistry(folder)
        try:
            model, rules = registry.active_model(), registry.active_rules()
        except (OSError, ValueError) as e:  # a damaged registry must not stop payments: rules still decide
            log.error("risk.registry_unreadable", folder=str(folder), error=str(e))
            model, rules = None, None
        engine = RiskEngine(DbFeatureStore(db) if db else None, model=model, rules=rules or default_rules())
        return cls(engine, registry, ActivationWatch(db, registry) if db else None)

    def decide(self, payment: dict) -> Decision:
        """The engine's decision on a payment request (the attempt is recorded; an allowed payment
        is confirmed at once), in the bound transaction or one of its own. RiskError for facts no
        score can be made of."""
        facts = payment_facts(payment)
        with self._transaction() as session:
            if self.activations is not None:
                self.activations.refresh(session, self.engine)
            decision = self.engine.decide(facts, facts.occurred_at)
            if decision.action == "allow":
                self.engine.confirm(facts, facts.occurred_at)
        return decision

    def assess(self, payment: dict) -> RiskDecision:
        try:
            decision = self.decide(payment)
        except RiskError as e:  # facts no score can be made of: ask the payer to prove it is them
            return RiskDecision("step_up", 1.0, (f"risk facts incomplete: {e}",), ("otp",))
        details = {"model_version": decision.model_version, "rules_version": decision.rules_version}
        return RiskDecision(decision.action, round(decision.score, 6), tuple(decision.reasons),
                            METHODS[decision.verification] or (("otp",) if decision.action == "step_up" else ()), details)

    def learn(self, payment: dict) -> None:
        """A stepped-up payment the payer verified: the payer's profile learns its device and place."""
        facts = payment_facts(payment)
        try:
            with self._transaction():
                self.engine.confirm(facts, facts.occurred_at)
        except RiskError:
            pass

    def activate_rules(self, rules: RuleSet) -> RuleSet:
        """Save `rules` under its version and make it the active set, on disk and then in this
        engine; returns the set it replaced."""
        with self._activation_lock:
            self._saved_in().activate_rules(rules)
            if self.activations is not None:
                self.activations.publish_rules(rules)
            return self.engine.swap_rules(rules)

    def activate_model(self, version: str) -> RiskModel | None:
        """Make a saved model the active one, on disk and then in this engine; decisions go on with
        the previous model while the new one loads. Returns the model it replaced."""
        with self._activation_lock:
            registry = self._saved_in()
            model = registry.load_model(version)
            registry.activate_model(version)
            if self.activations is not None:
                self.activations.publish_model(version)
            return self.engine.swap_model(model)

    def _saved_in(self) -> RiskRegistry:
        if self.registry is None:
            raise RiskError("no_registry", "this risk engine keeps no registry: nothing can be activated")
        return self.registry

    def train_in_background(self, folder: Path, payers: int = DEMO_TRAINING_PAYERS) -> threading.Thread | None:
        """Without an active model: train a small one on generated history, then swap it in."""
        if self.engine.model is not None:
            return None
        thread = threading.Thread(target=self._train, args=(folder, payers), daemon=True, name="risk-training")
        thread.start()
        return thread

    def _train(self, folder: Path, payers: int) -> None:
        from juhe.risk.generator import generate
        from juhe.risk.replay import feature_frame
        from juhe.risk.train import train_model

        try:
            model = train_model(feature_frame(generate(payers, 28, 1, warmup_days=7), warmup_days=7),
                                source=f"generated, {payers} payers")
            registry = RiskRegistry(folder)
            registry.save_model(model)
            with self._activation_lock:
                registry.activate_model(model.version)
                if self.activations is not None:
                    self.activations.publish_model(model.version)
                self.engine.swap_model(model)
            log.info("risk.model_trained_and_active", version=model.version)
        except Exception:  # the engine keeps deciding by its rules
            log.exception("risk.training_failed")


def payment_facts(payment: dict) -> PaymentFacts:
    """What the payment request tells about the payer; missing device facts become explicit unknowns."""
    payer = payment.get("payer") or {}
    # An identifier the request does not give is this payment's alone: strangers' payments must not
    # add up to one payer's (or one device's) velocity.
    unknown = f"unknown:{payment['id']}"
    # A face-pay device or card terminal is the store's, shared by every customer: not the payer's device.
    device_id = None if payment.get("scenario") in STORE_DEVICE_SCENARIOS else payer.get("device_id")
    payer_id = payment.get("customer_id") or device_id or unknown
    location = (payer.get("latitude"), payer.get("longitude"))
    return PaymentFacts(
        payment_id=payment["id"], payer_id=payer_id, merchant_id=payment["merchant_id"],
        merchant_category=payer.get("merchant_category") or CATEGORY_OF_INDUSTRY.get(payment.get("industry"), "grocery"),
        amount_minor=payment["amount_minor"], currency=payment["currency"],
        occurred_at=payment.get("at") or datetime.now(timezone.utc),
        card_id=payer.get("card_token") or payer.get("card_id") or f"account:{payer_id}",
        device_id=device_id or unknown, ip=payer.get("client_ip") or unknown,
        latitude=_float(location[0]), longitude=_float(location[1]),
        terminal_id=payment.get("terminal_id") or payer.get("terminal_id") or None, store_id=payment.get("store_id"),
    )  # fmt: skip


def _float(text) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
