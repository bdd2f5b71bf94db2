"""Training the fraud model on a labelled feature frame, thresholds chosen on a validation split.

Payers are split, not payments (crc32 of payer_id): a payer's payments are either all in
training or all in validation, so the validation scores are those of payers the model never
saw -- like the held-out set and like production. LightGBM stops early on validation AUPRC.

Thresholds: `step_up_score` is the lowest score at which at most `target_fpr` of validation's
legit payments would be stepped up or blocked by the model; `block_score` the same with
`target_block_fpr`. The budget left between `target_fpr` and the goal of 1 % false positives
is for the rules and the amount tiers, which also stop legit payments -- and for the drift from the
training months to later ones: on the card simulator's later months a threshold chosen for 0.8 %
stopped 0.97 % of legit payments, and compromise reviews (rule R7) stop about 0.3 % more.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score

from juhe.risk.facts import RiskError
from juhe.risk.features import CATEGORICAL_FEATURES, MODEL_FEATURES
from juhe.risk.model import RiskModel, Thresholds, categorical_indexes, matrix

MIN_FRAUD_ROWS = 10  # fewer fraud examples on either side of the split teach or prove nothing


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    valid_share: float = 0.25
    target_fpr: float = 0.005
    target_block_fpr: float = 0.0005
    rounds: int = 400
    early_stopping_rounds: int = 40
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 40
    seed: int = 7
    threads: int = 1  # on a shared machine OpenMP threads wait on each other more than they help

    def __post_init__(self) -> None:
        if not (0.05 <= self.valid_share <= 0.5 and 0 < self.target_block_fpr <= self.target_fpr < 0.5
                and self.rounds >= 1 and self.num_leaves >= 2):
            raise RiskError("bad_training_options", "need 0.05 <= valid_share <= 0.5, "
                            "0 < target_block_fpr <= target_fpr < 0.5, rounds >= 1, num_leaves >= 2")


def train_model(frame: pl.DataFrame, options: TrainingOptions = TrainingOptions(), *, currency: str = "CNY",
                source: dict | None = None) -> RiskModel:
    """A model trained on the scored rows of a feature frame (`replay.feature_frame`)."""
    rows = frame.filter(pl.col("scored") & (pl.col("currency") == currency))
    in_valid = rows["payer_id"].map_elements(lambda p: zlib.crc32(p.encode()) % 1000 < options.valid_share * 1000,
                                             return_dtype=pl.Boolean)
    train, valid = rows.filter(~in_valid), rows.filter(in_valid)
    for name, part in (("training", train), ("validation", valid)):
        if int(part["is_fraud"].sum()) < MIN_FRAUD_ROWS:
            raise RiskError("too_little_fraud", f"the {name} split has fewer than {MIN_FRAUD_ROWS} fraud payments; "
                            "generate or supply more history")
    booster = _fit(train, valid, options)
    scores = booster.predict(matrix(valid, MODEL_FEATURES))
    labels = valid["is_fraud"].to_numpy()
    thresholds = choose_thresholds(scores, labels, options.target_fpr, options.target_block_fpr)
    text = booster.model_to_string()
    version = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    metadata = {
        "version": version, "created_at": datetime.now(timezone.utc).isoformat(), "currency": currency,
        "features": list(MODEL_FEATURES), "categorical": list(CATEGORICAL_FEATURES),
        "thresholds": {"step_up_score": thresholds.step_up_score, "block_score": thresholds.block_score},
        "training": {"rows": train.height, "fraud_rows": int(train["is_fraud"].sum()),
                     "best_iteration": booster.best_iteration, "options": asdict(options),
                     "lightgbm": lgb.__version__, "source": source or {}},
        "validation": {"rows": valid.height, "fraud_rows": int(labels.sum()), **_validation(scores, labels, thresholds)},
    }
    return RiskModel(version, booster, MODEL_FEATURES, thresholds, currency, metadata)


def _fit(train: pl.DataFrame, valid: pl.DataFrame, options: TrainingOptions) -> lgb.Booster:
    params = {
        "objective": "binary", "metric": "average_precision", "learning_rate": options.learning_rate,
        "num_leaves": options.num_leaves, "min_data_in_leaf": options.min_data_in_leaf, "feature_fraction": 0.9,
        "bagging_fraction": 0.9, "bagging_freq": 1, "lambda_l2": 1.0, "seed": options.seed, "deterministic": True,
        "num_threads": options.threads, "verbose": -1,
    }
    categorical = categorical_indexes()
    train_set = lgb.Dataset(matrix(train, MODEL_FEATURES), train["is_fraud"].to_numpy().astype(np.int8),
                            feature_name=list(MODEL_FEATURES), categorical_feature=categorical, free_raw_data=True)
    valid_set = lgb.Dataset(matrix(valid, MODEL_FEATURES), valid["is_fraud"].to_numpy().astype(np.int8),
                            reference=train_set)
    return lgb.train(params, train_set, num_boost_round=options.rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(options.early_stopping_rounds, verbose=False)])


def choose_thresholds(scores: np.ndarray, labels: np.ndarray, target_fpr: float, target_block_fpr: float) -> Thresholds:
    """The lowest scores that keep the legit share flagged at or under each target."""
    legit = np.sort(scores[~labels.astype(bool)])[::-1]
    step_up = threshold_for(legit, target_fpr)
    return Thresholds(step_up, max(step_up, threshold_for(legit, target_block_fpr)))


def threshold_for(legit_descending: np.ndarray, share: float) -> float:
    allowed = int(share * len(legit_descending))  # legit payments that may reach the threshold
    if allowed >= len(legit_descending):
        return 0.0
    # Just above the first legit score that must stay below: at most `allowed` legit are at or above.
    return float(min(1.0, np.nextafter(legit_descending[allowed], 1.0)))


def _validation(scores: np.ndarray, labels: np.ndarray, thresholds: Thresholds) -> dict[str, float]:
    fraud, legit = labels.astype(bool), ~labels.astype(bool)
    return {
        "auprc": round(float(average_precision_score(labels, scores)), 6),
        "model_interception_rate": round(float((scores[fraud] >= thresholds.step_up_score).mean()), 6),
        "model_false_positive_rate": round(float((scores[legit] >= thresholds.step_up_score).mean()), 6),
        "model_block_rate_fraud": round(float((scores[fraud] >= thresholds.block_score).mean()), 6),
    }
