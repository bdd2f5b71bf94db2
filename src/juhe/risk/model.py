"""A trained fraud model: a LightGBM booster with its version, feature list and thresholds.

The booster scores the probability that a payment is fraud. `Thresholds` turn the score into
tiers (step_up at or above `step_up_score`, block at or above `block_score`); they were chosen
on a validation split when the model was trained and travel with it, so that swapping the
model swaps its thresholds in the same assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from juhe.risk.facts import RiskError
from juhe.risk.features import CATEGORICAL_FEATURES, MODEL_FEATURES

PREDICT_PARAMS = {"num_threads": 1}  # one payment at a time: OpenMP's thread start-up costs more than it saves


@dataclass(frozen=True, slots=True)
class Thresholds:
    step_up_score: float
    block_score: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.step_up_score <= self.block_score <= 1.0:
            raise RiskError("bad_thresholds", "need 0 <= step_up_score <= block_score <= 1")


@dataclass(frozen=True, slots=True)
class RiskModel:
    version: str
    booster: lgb.Booster = field(repr=False)
    features: tuple[str, ...]
    thresholds: Thresholds
    currency: str  # amounts were learned in this currency; others are not scored
    metadata: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_feature_list(self.features, self.version)

    def score(self, features: dict) -> float:
        return float(self.booster.predict(self._row(features), **PREDICT_PARAMS)[0])

    def contributions(self, features: dict, top: int) -> list[tuple[str, float]]:
        """The features that pushed this score up most (SHAP values in log-odds, from pred_contrib)."""
        values = self.booster.predict(self._row(features), pred_contrib=True, **PREDICT_PARAMS)[0][:-1]  # last: bias
        ranked = sorted(zip(self.features, values), key=lambda item: item[1], reverse=True)
        return [(name, float(value)) for name, value in ranked[:top] if value > 0]

    def score_frame(self, frame: pl.DataFrame) -> np.ndarray:
        """Scores of many feature rows at once (training, validation, dry runs)."""
        return self.booster.predict(matrix(frame, self.features))

    def _row(self, features: dict) -> np.ndarray:
        return np.array([[float(features[name]) for name in self.features]], dtype=np.float64)


def matrix(frame: pl.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    return frame.select([pl.col(name).cast(pl.Float64) for name in features]).to_numpy()


def check_feature_list(features: tuple[str, ...], version: str) -> None:
    """A model trained on other features than this code computes cannot score (code feature_mismatch)."""
    if tuple(features) != MODEL_FEATURES:
        missing = sorted(set(MODEL_FEATURES) - set(features))
        extra = sorted(set(features) - set(MODEL_FEATURES))
        raise RiskError("feature_mismatch", f"model {version} was trained on other features "
                        f"(missing {missing or 'none'}, unknown {extra or 'none'}, or another order); retrain it")


def categorical_indexes() -> list[int]:
    return [MODEL_FEATURES.index(name) for name in CATEGORICAL_FEATURES]
