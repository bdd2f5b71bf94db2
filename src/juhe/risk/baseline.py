"""A plain baseline to hold the engine's figures against: the handbook's textbook model.

The features are those of the ULB/Worldline handbook's "baseline feature transformation": the
payment's amount, whether it fell on a weekend or at night (hour 0-6 UTC, the simulator's clock),
the customer's number of payments and mean amount over 1, 7 and 30 days (this one included), and
per terminal the number of payments and the share of them that were fraud over 1, 7 and 30 days
ending `label_delay_days` before the payment (labels are known that late, no sooner). Rows without
a terminal use their merchant as the terminal. The model is scikit-learn's
HistGradientBoostingClassifier with its defaults, trained on the rows of a time range and scored
on a later one, in the same run as the engine's evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier

from juhe.risk.facts import RiskError

WINDOWS_DAYS = (1, 7, 30)
SEED = 0


@dataclass(frozen=True, slots=True)
class BaselineScores:
    scores: np.ndarray
    labels: np.ndarray
    fraud_types: list[str | None]
    train_rows: int


def handbook_features(history: pl.DataFrame, label_delay_days: float) -> pl.DataFrame:
    """One row per payment: payment_id, occurred_at, is_fraud, fraud_type and the feature columns."""
    payments = (history.filter(pl.col("kind") == "payment")
                .with_columns(pl.coalesce("terminal_id", "merchant_id").alias("terminal"),
                              (pl.col("amount_minor") / 100).alias("amount"))
                .sort("occurred_at"))
    frame = payments.select(
        "payment_id", "occurred_at", "is_fraud", "fraud_type", "amount",
        (pl.col("occurred_at").dt.weekday() >= 6).cast(pl.Int8).alias("weekend"),
        (pl.col("occurred_at").dt.hour() <= 6).cast(pl.Int8).alias("night"))
    for n in WINDOWS_DAYS:
        frame = frame.join(_customer_window(payments, n), on="payment_id")
        frame = frame.join(_terminal_window(payments, n, label_delay_days), on="payment_id")
    return frame.sort("occurred_at", maintain_order=True)


def feature_columns(frame: pl.DataFrame) -> list[str]:
    return [name for name in frame.columns if name not in ("payment_id", "occurred_at", "is_fraud", "fraud_type")]


def _customer_window(payments: pl.DataFrame, n: int) -> pl.DataFrame:
    return (payments.sort("payer_id", "occurred_at")
            .rolling("occurred_at", period=f"{n}d", group_by="payer_id")
            .agg(pl.col("payment_id").last(), pl.len().alias(f"customer_count_{n}d"),
                 pl.col("amount").mean().alias(f"customer_mean_amount_{n}d"))
            .select("payment_id", f"customer_count_{n}d", f"customer_mean_amount_{n}d"))


def _terminal_window(payments: pl.DataFrame, n: int, delay_days: float) -> pl.DataFrame:
    # The window (t - delay - n days, t - delay]: payments whose label had arrived by t.
    delay_s = int(delay_days * 86_400)
    ordered = payments.sort("terminal", "occurred_at")
    rolled = (ordered.rolling("occurred_at", period=f"{n}d", offset=f"-{delay_s + n * 86_400}s", group_by="terminal")
              .agg(pl.len().alias("count"), pl.col("is_fraud").sum().alias("fraud"))
              .unique(["terminal", "occurred_at"]))  # payments at one terminal and second share a window
    return ordered.join(rolled, on=["terminal", "occurred_at"]).select(
        "payment_id", pl.col("count").alias(f"terminal_count_{n}d_delayed"),
        pl.when(pl.col("count") > 0).then(pl.col("fraud") / pl.col("count")).otherwise(0.0)
        .alias(f"terminal_risk_{n}d_delayed"))


def train_and_score(train_history: pl.DataFrame, test_history: pl.DataFrame, *, train_from: datetime,
                    train_until: datetime, test_from: datetime, label_delay_days: float) -> BaselineScores:
    """Fit on payments of `train_history` in [train_from, train_until), score those of `test_history` from
    test_from on (the two may be one frame)."""
    at = pl.col("occurred_at")
    frame = handbook_features(train_history, label_delay_days)
    train = frame.filter((at >= train_from) & (at < train_until))
    tested = frame if test_history is train_history else handbook_features(test_history, label_delay_days)
    test = tested.filter(at >= test_from)
    if int(train["is_fraud"].sum()) < 10 or test.is_empty():
        raise RiskError("too_little_fraud", "the baseline's training range has fewer than 10 fraud payments "
                        "or nothing is left to score")
    columns = feature_columns(frame)
    model = HistGradientBoostingClassifier(random_state=SEED)
    model.fit(train.select(columns).to_numpy(), train["is_fraud"].to_numpy())
    scores = model.predict_proba(test.select(columns).to_numpy())[:, 1]
    return BaselineScores(scores, test["is_fraud"].to_numpy(), test["fraud_type"].to_list(), train.height)
