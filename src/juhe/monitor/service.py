"""The monitor in the worker loop: evaluate the rules in their own transaction, at most once
per interval. The worker's round is a second; a rule's window is minutes, so looking every
few seconds finds the same bursts at a fraction of the queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.monitor.alerts import Alert, evaluate_rules

EVALUATION_INTERVAL_S = 10
log = structlog.get_logger()


class Evaluator:
    """Remembers when it last evaluated; `run_if_due` is safe to call on every worker round."""

    def __init__(self, db: Database, interval_s: float = EVALUATION_INTERVAL_S):
        self.db = db
        self.interval = timedelta(seconds=interval_s)
        self.last_run_at: datetime | None = None

    def run_if_due(self, now: datetime | None = None) -> list[Alert]:
        now = now or utcnow()
        if self.last_run_at is not None and now - self.last_run_at < self.interval:
            return []
        with self.db.session() as session, session.begin():
            raised = evaluate_rules(session.connection(), now)
        self.last_run_at = now
        for alert in raised:
            log.warning("monitor alert", kind=alert.kind, subject=alert.subject, merchant_id=str(alert.merchant_id),
                        alert_id=str(alert.id))
        return raised
