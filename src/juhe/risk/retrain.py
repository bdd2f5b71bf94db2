"""Champion/challenger: retraining on the platform's own payments and fraud reports, promoted only if better.

    history, unlabelled = platform_history(session, since, until)    # DB: payments, labels from reports
    contest = challenge(history, champion, unlabelled=unlabelled)     # pure apart from LightGBM
    if contest.promoted: ...activate contest.challenger...

Labels come from the fraud reports (`juhe.risk.reports`): a payment whose current report says fraud
is fraud, everything else that went through is legit. A payment risk stopped and nobody reported is
neither: it is replayed (its attempt counts in velocity, the payer's profile does not learn it) but
neither trained nor tested on — learning "what the engine stopped" would only teach the model its
own rules.

The challenger is trained on the history up to `latest_days + label_delay_days` before its end (the
labels of its last rows were known by then); both models are then scored on the payments of the
latest `latest_days`, which the challenger never saw. It is promoted when its AUPRC there is higher
than the champion's (or there is no champion, or the champion cannot score today's features). The
contest — both models' AUPRC and interception at ≤ 1 % false positives — travels in the
challenger's metadata (`contest`), saved whether or not it was promoted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.engine import Database
from juhe.risk.activation import publish
from juhe.risk.comparison import at_operating_point
from juhe.risk.facts import RiskError
from juhe.risk.history import load_payment_history
from juhe.risk.model import RiskModel
from juhe.risk.models import RiskActivation, RiskFraudReport
from juhe.risk.registry import RiskRegistry
from juhe.risk.replay import LABEL_DELAY_DAYS, feature_frame
from juhe.risk.train import TrainingOptions, train_model

LATEST_DAYS = 14  # the challenger is judged on the last two weeks
HISTORY_DAYS = 90
WARMUP_DAYS = 7
RETRAIN_EVERY = timedelta(days=7)
RETRAIN_KIND = "retrain"  # risk_activations row: when the last contest was claimed
log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class Contest:
    challenger: RiskModel
    champion_version: str | None
    champion: dict | None  # at_operating_point figures on the latest weeks; None: no champion could score
    challenger_figures: dict
    promoted: bool
    tested_from: datetime
    trained_until: datetime

    def report(self) -> dict:
        return {"champion": {"version": self.champion_version, **(self.champion or {})} if self.champion_version else None,
                "challenger": {"version": self.challenger.version, **self.challenger_figures},
                "promoted": self.promoted, "tested_from": self.tested_from.isoformat(),
                "trained_until": self.trained_until.isoformat()}


def challenge(history: pl.DataFrame, champion: RiskModel | None, *, unlabelled: frozenset[str] = frozenset(),
              latest_days: float = LATEST_DAYS, warmup_days: float = WARMUP_DAYS,
              label_delay_days: float = LABEL_DELAY_DAYS, options: TrainingOptions = TrainingOptions(),
              source: dict | None = None) -> Contest:
    """Train a challenger on the earlier history and hold it against `champion` on the latest weeks."""
    if history.is_empty():
        raise RiskError("too_little_fraud", "no payments to learn from")
    end = history["occurred_at"].max()
    tested_from = end - timedelta(days=latest_days)
    trained_until = tested_from - timedelta(days=label_delay_days)
    frame = feature_frame(history, warmup_days=warmup_days, label_delay_days=label_delay_days)
    frame = frame.filter(~pl.col("payment_id").is_in(list(unlabelled)))
    test = frame.filter(pl.col("scored") & (pl.col("occurred_at") >= tested_from))
    if int(test["is_fraud"].sum()) == 0:
        raise RiskError("too_little_fraud", f"no reported fraud in the latest {latest_days:g} days to judge a model on")
    challenger = train_model(frame.filter(pl.col("occurred_at") < trained_until), options,
                             source={**(source or {}), "trained_until": trained_until.isoformat()})
    mine = _figures(challenger, test)
    theirs = _champion_figures(champion, test)
    promoted = theirs is None or mine["auprc"] > theirs["auprc"]
    contest = Contest(challenger, champion.version if champion else None, theirs, mine, promoted, tested_from,
                      trained_until)
    challenger.metadata["contest"] = contest.report()
    return contest


def _figures(model: RiskModel, test: pl.DataFrame) -> dict:
    rows = test.filter(pl.col("currency") == model.currency)
    return at_operating_point(model.score_frame(rows), rows["is_fraud"].to_numpy(), rows["fraud_type"].to_list())


def _champion_figures(champion: RiskModel | None, test: pl.DataFrame) -> dict | None:
    if champion is None:
        return None
    try:
        return _figures(champion, test)
    except (RiskError, KeyError):  # trained on features this code no longer computes: it cannot defend its title
        return None


def platform_history(session: Session, since: datetime, until: datetime) -> tuple[pl.DataFrame, frozenset[str]]:
    """Every merchant's payments of [since, until) labelled by their current fraud reports, and the ids
    of the payments risk stopped that nobody reported (replayed, neither trained nor tested on)."""
    loaded = load_payment_history(session, None, since, until, warmup_days=0)
    verdicts = dict(session.execute(select(RiskFraudReport.payment_id, RiskFraudReport.verdict)
                                    .where(RiskFraudReport.current)).all())
    verdicts = {str(payment_id): verdict for payment_id, verdict in verdicts.items()}
    frame = loaded.frame
    stopped = frame["is_fraud"]  # load_payment_history marks what did not go through
    ids = frame["payment_id"]
    fraud = [verdicts.get(pid) == "fraud" or (was_stopped and verdicts.get(pid) != "genuine")
             for pid, was_stopped in zip(ids, stopped)]
    unlabelled = frozenset(pid for pid, was_stopped in zip(ids, stopped) if was_stopped and pid not in verdicts)
    frame = frame.with_columns(is_fraud=pl.Series(fraud, dtype=pl.Boolean),
                               fraud_type=pl.Series(["reported" if verdicts.get(pid) == "fraud" else None for pid in ids],
                                                    dtype=pl.String))
    return frame, unlabelled



def run_contest(db: Database, registry: RiskRegistry, activate: Callable[[str], object], now: datetime,
                history_days: float = HISTORY_DAYS, latest_days: float = LATEST_DAYS,
                label_delay_days: float = LABEL_DELAY_DAYS) -> Contest:
    """Load the platform's history, hold a challenger against the active model, save it, and `activate`
    its version when it won (the caller's activation: the API's engine, or the registry and database)."""
    with db.reader() as session:
        history, unlabelled = platform_history(session, now - timedelta(days=history_days), now)
    contest = challenge(history, registry.active_model(), unlabelled=unlabelled, latest_days=latest_days,
                        label_delay_days=label_delay_days,
                        source={"platform": {"since": (now - timedelta(days=history_days)).isoformat(),
                                             "until": now.isoformat()}})
    registry.save_model(contest.challenger)
    if contest.promoted:
        activate(contest.challenger.version)
    return contest


class Retraining:
    """The worker's schedule: a contest every RETRAIN_EVERY, claimed in the database (the `retrain` row
    of risk_activations, locked) so that of several workers one runs it; in a thread of its own, as
    training takes minutes the worker's round must not wait for."""

    def __init__(self, db: Database, registry: RiskRegistry, activate: Callable[[str], object],
                 every: timedelta = RETRAIN_EVERY):
        self.db, self.registry, self.activate, self.every = db, registry, activate, every
        self.thread: threading.Thread | None = None

    def start_if_due(self, now: datetime) -> threading.Thread | None:
        if self.thread is not None and self.thread.is_alive():
            return None
        if not self._claimed(now):
            return None
        self.thread = threading.Thread(target=self._run, args=(now,), daemon=True, name="risk-retraining")
        self.thread.start()
        return self.thread

    def _claimed(self, now: datetime) -> bool:
        with self.db.session() as session, session.begin():
            row = session.get(RiskActivation, RETRAIN_KIND, with_for_update=True)
            if row is not None and row.activated_at > now - self.every:
                return False
            publish(session, RETRAIN_KIND, None)
            session.get(RiskActivation, RETRAIN_KIND).activated_at = now
        return True

    def _run(self, now: datetime) -> None:
        try:
            contest = run_contest(self.db, self.registry, self.activate, now)
            log.info("risk.retrained", **contest.report())
        except RiskError as error:  # too little reported fraud yet: the champion stays
            log.info("risk.retraining_skipped", code=error.code, reason=str(error))
        except Exception:
            log.exception("risk.retraining_failed")
