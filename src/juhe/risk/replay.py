"""Replaying a labelled history through the feature pipeline, in time order.

`events` turns HISTORY rows into payments and password resets. `feature_frame` computes every
payment's features exactly as the engine would have at that moment, for training and for
rule dry-runs. The payers' profiles learn from legit payments only: the history is one in
which past fraud was found (chargebacks, complaints) and cleaned out of the profiles.

Rows in the first `warmup_days` only build history (`scored` is false on them): a replay
starts with an empty store, and without a warm-up every payer would look brand new.

Fraud is learned late: with `label_delay_days`, each fraud payment also yields a report event
that long after it (a chargeback, a complaint), and only then does the store count it as
confirmed fraud of its terminal, store and merchant (and the compromise check run). A decision
in the replay sees exactly the reports that had arrived before it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator

import polars as pl

from juhe.risk.compromise import ReplayReviewer, after_fraud_report
from juhe.risk.engine import DecisionPolicy
from juhe.risk.facts import PaymentFacts
from juhe.risk.features import FEATURES
from juhe.risk.geo import RegionDirectory
from juhe.risk.pipeline import FeaturePipeline, Observation
from juhe.risk.store import InMemoryFeatureStore

LABEL_COLUMNS = {"payment_id": pl.String, "occurred_at": pl.Datetime("us", "UTC"), "payer_id": pl.String,
                 "is_fraud": pl.Boolean, "fraud_type": pl.String, "scored": pl.Boolean}
Advance = Callable[[int], None]  # a progress bar's step (rows done)
LABEL_DELAY_DAYS = 7  # a chargeback or complaint arrives about a week after the payment
KIND_DTYPES = {"number": pl.Float64, "bool": pl.Boolean, "text": pl.String, "category": pl.Int64}


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    payer_id: str
    payment: PaymentFacts | None  # None: a password reset
    is_fraud: bool
    fraud_type: str | None
    scored: bool
    report: bool = False  # the payment's fraud report arriving at `at` (not the payment itself)


def events(history: pl.DataFrame, warmup_days: float, label_delay_days: float | None = None) -> Iterator[Event]:
    """The rows as events in time order; with a label delay, each fraud payment's report too."""
    if history.is_empty():
        return
    scored_from = history["occurred_at"].min() + timedelta(days=warmup_days)
    delay = timedelta(days=label_delay_days) if label_delay_days is not None else None
    reports: deque[Event] = deque()  # one delay for all: reports come due in the payments' order
    for row in history.iter_rows(named=True):
        at = row["occurred_at"]
        while reports and reports[0].at <= at:
            yield reports.popleft()
        payment = None
        if row["kind"] == "payment":
            payment = PaymentFacts(row["payment_id"], row["payer_id"], row["merchant_id"], row["merchant_category"],
                                   row["amount_minor"], row["currency"], at, row["card_id"], row["device_id"], row["ip"],
                                   row["latitude"], row["longitude"], row["terminal_id"], row["store_id"])
        event = Event(at, row["payer_id"], payment, bool(row["is_fraud"]), row["fraud_type"], at >= scored_from)
        yield event
        if delay is not None and payment is not None and event.is_fraud:
            reports.append(Event(at + delay, event.payer_id, payment, True, event.fraud_type, False, report=True))


def learn_report(pipeline: FeaturePipeline, event: Event, reviewer: ReplayReviewer | None) -> None:
    """A fraud report arrives: the store counts it, and the compromise check runs (opened reviews
    are closed again by the replay's reviewer)."""
    pipeline.store.record_fraud_report(event.payment, 1)
    opened = after_fraud_report(pipeline.store, event.payment, event.at)
    if reviewer is not None:
        reviewer.reported(event.payment, opened, event.at)


def as_it_happened(pipeline: FeaturePipeline, event: Event, reviewer: ReplayReviewer | None = None) -> Observation | None:
    """Feed one past event to the store: a reset is recorded; a report counted; a payment is observed,
    and learnt when it was legit (fraud found later never stays in a profile). None but for a payment."""
    if reviewer is not None:
        reviewer.review(pipeline.store, event.at)
    if event.report:
        learn_report(pipeline, event, reviewer)
        return None
    if event.payment is None:
        pipeline.store.record_password_reset(event.payer_id, event.at)
        return None
    observation = pipeline.observe(event.payment, event.at)
    if not event.is_fraud:
        pipeline.learn(event.payment, event.at, observation)
    return observation


def feature_frame(history: pl.DataFrame, *, warmup_days: float, policy: DecisionPolicy | None = None,
                  regions: RegionDirectory | None = None, advance: Advance = lambda _n: None,
                  label_delay_days: float | None = LABEL_DELAY_DAYS) -> pl.DataFrame:
    """One row per payment: LABEL_COLUMNS and every feature in FEATURES."""
    policy = policy or DecisionPolicy()
    pipeline = FeaturePipeline(InMemoryFeatureStore(), regions or RegionDirectory(), policy.scene_limit_minor)
    columns: dict[str, list] = {name: [] for name in (*LABEL_COLUMNS, *FEATURES)}
    reviewer = ReplayReviewer()
    for event in events(history, warmup_days, label_delay_days):
        advance(0 if event.report else 1)
        observation = as_it_happened(pipeline, event, reviewer)
        if observation is None:
            continue
        for name, value in (("payment_id", event.payment.payment_id), ("occurred_at", event.at),
                            ("payer_id", event.payer_id), ("is_fraud", event.is_fraud),
                            ("fraud_type", event.fraud_type), ("scored", event.scored)):
            columns[name].append(value)
        for name, value in observation.features.items():
            columns[name].append(value)
    schema = {**LABEL_COLUMNS, **{name: KIND_DTYPES[spec.kind] for name, spec in FEATURES.items()}}
    schema["amount_minor"] = pl.Int64
    return pl.DataFrame(columns, schema=schema, strict=False)
