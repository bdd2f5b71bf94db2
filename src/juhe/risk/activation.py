"""Which rule set and model every process decides by, kept in the database.

An activation (API or CLI) writes one `risk_activations` row per kind: the rule set whole (it is
small), the model by its version (the booster stays in the registry folder, shared by the
processes of one deployment). Each process re-reads the rows at most every `interval_s`, in
the session of the decision it is about to make, and swaps its engine when they changed — so
an activation reaches every API process and worker within a few seconds, and costs a decision
one primary-key read every two seconds.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.engine import Database
from juhe.risk.engine import RiskEngine
from juhe.risk.facts import RiskError
from juhe.risk.models import RiskActivation
from juhe.risk.registry import RiskRegistry
from juhe.risk.rules import RuleSet, RuleSetError, parse_rules

REFRESH_INTERVAL_S = 2.0
RULES, MODEL = "rules", "model"
ACTIVATIONS = RiskActivation.__table__
log = structlog.get_logger()


def publish(session: Session, kind: str, version: str | None, rules: dict | None = None) -> None:
    """Make `version` the active one of `kind` for every process (in the caller's transaction)."""
    row = session.get(RiskActivation, kind, with_for_update=True)
    if row is None:
        row = RiskActivation(kind=kind)
        session.add(row)
    row.version, row.rules, row.activated_at = version, rules, datetime.now(timezone.utc)


def published(session: Session) -> dict[str, tuple[str | None, dict | None]]:
    """The active version (and rule set) per kind; a kind never activated in the database is absent."""
    return {kind: (version, rules) for kind, version, rules in
            session.execute(select(ACTIVATIONS.c.kind, ACTIVATIONS.c.version, ACTIVATIONS.c.rules))}


class ActivationWatch:
    """Keeps one process's engine on the activations in the database."""

    def __init__(self, db: Database, registry: RiskRegistry | None, interval_s: float = REFRESH_INTERVAL_S):
        self.db = db
        self.registry = registry
        self.interval_s = interval_s
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._unloadable: set[str] = set()  # model versions this process could not load: logged once

    def publish_rules(self, rules: RuleSet) -> None:
        with self.db.session() as session, session.begin():
            publish(session, RULES, rules.version, rules.to_json())
        self._checked_at = time.monotonic()  # this process swaps itself; no need to read it back

    def publish_model(self, version: str | None) -> None:
        with self.db.session() as session, session.begin():
            publish(session, MODEL, version)
        self._checked_at = time.monotonic()

    def refresh(self, session: Session, engine: RiskEngine, force: bool = False) -> None:
        """Swap in what the database says is active, if it is time to look and it changed."""
        if not force and time.monotonic() - self._checked_at < self.interval_s:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread of this process is looking right now
        try:
            self._checked_at = time.monotonic()
            active = published(session)
            if RULES in active:
                self._follow_rules(engine, *active[RULES])
            if MODEL in active:
                self._follow_model(engine, active[MODEL][0])
        finally:
            self._lock.release()

    def _follow_rules(self, engine: RiskEngine, version: str | None, rules: dict | None) -> None:
        if rules is None or version == engine.rules.version:
            return
        try:
            engine.swap_rules(parse_rules(rules))
            log.info("risk.rules_followed", version=version)
        except RuleSetError as e:  # validated when activated; a row edited by hand must not stop payments
            log.error("risk.activated_rules_invalid", version=version, problems=len(e.errors))

    def _follow_model(self, engine: RiskEngine, version: str | None) -> None:
        current = engine.model.version if engine.model else None
        if version == current or version in self._unloadable:
            return
        if version is None:
            engine.swap_model(None)
            return
        try:
            if self.registry is None:
                raise RiskError("no_registry", "this process keeps no model registry")
            engine.swap_model(self.registry.load_model(version))
            log.info("risk.model_followed", version=version)
        except (RiskError, OSError, ValueError) as e:  # the engine keeps deciding with what it has
            self._unloadable.add(version)
            log.error("risk.activated_model_unloadable", version=version, error=str(e))
