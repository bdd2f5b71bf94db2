"""Replaying a labelled history through the feature pipeline, in time order.

`events` turns HISTORY rows into payments and password resets. `feature_frame` computes every
payment's features exactly as the engine would have at that moment, for training and for
rule dry-runs. The payers' profiles learn from legit payments only: the history is one in
which past fraud was found (chargebacks, complaints) and cleaned out of the profiles.

Rows in the first `warmup_days` only build history (`scored` is false on them): a replay
starts with an empty store, and without a warm-up every payer would look brand new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterator

import polars as pl

from juhe.risk.engine import DecisionPolicy
from juhe.risk.facts import PaymentFacts
from juhe.risk.features import FEATURES
from juhe.risk.geo import RegionDirectory
from juhe.risk.pipeline import FeaturePipeline, Observation
from juhe.risk.store import InMemoryFeatureStore

LABEL_COLUMNS = {"payment_id": pl.String, "occurred_at": pl.Datetime("us", "UTC"), "payer_id": pl.String,
                 "is_fraud": pl.Boolean, "fraud_type": pl.String, "scored": pl.Boolean}
Advance = Callable[[int], None]  # a progress bar's step (rows done)
KIND_DTYPES = {"number": pl.Float64, "bool": pl.Boolean, "text": pl.String, "category": pl.Int64}


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    payer_id: str
    payment: PaymentFacts | None  # None: a password reset
    is_fraud: bool
    fraud_type: str | None
    scored: bool


def events(history: pl.DataFrame, warmup_days: float) -> Iterator[Event]:
    if history.is_empty():
        return
    scored_from = history["occurred_at"].min() + timedelta(days=warmup_days)
    for row in history.iter_rows(named=True):
        at = row["occurred_at"]
        payment = None
        if row["kind"] == "payment":
            payment = PaymentFacts(row["payment_id"], row["payer_id"], row["merchant_id"], row["merchant_category"],
                                   row["amount_minor"], row["currency"], at, row["card_id"], row["device_id"], row["ip"],
                                   row["latitude"], row["longitude"])
        yield Event(at, row["payer_id"], payment, bool(row["is_fraud"]), row["fraud_type"], at >= scored_from)


def as_it_happened(pipeline: FeaturePipeline, event: Event) -> Observation | None:
    """Feed one past event to the store: a reset is recorded; a payment is observed, and learnt
    when it was legit (fraud found later never stays in a profile). None for a reset."""
    if event.payment is None:
        pipeline.store.record_password_reset(event.payer_id, event.at)
        return None
    observation = pipeline.observe(event.payment, event.at)
    if not event.is_fraud:
        pipeline.learn(event.payment, event.at, observation)
    return observation


def feature_frame(history: pl.DataFrame, *, warmup_days: float, policy: DecisionPolicy | None = None,
                  regions: RegionDirectory | None = None, advance: Advance = lambda _n: None) -> pl.DataFrame:
    """One row per payment: LABEL_COLUMNS and every feature in FEATURES."""
    policy = policy or DecisionPolicy()
    pipeline = FeaturePipeline(InMemoryFeatureStore(), regions or RegionDirectory(), policy.scene_limit_minor)
    columns: dict[str, list] = {name: [] for name in (*LABEL_COLUMNS, *FEATURES)}
    for event in events(history, warmup_days):
        advance(1)
        observation = as_it_happened(pipeline, event)
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
