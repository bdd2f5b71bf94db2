"""Scores compared at one operating point: how much fraud a score catches when at most 1 % of
legit payments may be stopped, overall and per typology, and its AUPRC.

The threshold is chosen on the scored set itself (the lowest score that keeps legit payments at
or above it within the budget), the same way for the engine's score and the baseline's, so the two
are compared on the curve and not on two thresholds picked on different data. The engine's own
decisions (its thresholds, rules and amount tiers) are reported beside it in `juhe.risk.evaluate`.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

from juhe.risk.train import threshold_for

FALSE_POSITIVES_MAX = 0.01


def at_operating_point(scores: np.ndarray, labels: np.ndarray, fraud_types: list[str | None],
                       fpr_max: float = FALSE_POSITIVES_MAX) -> dict:
    """{auprc, interception_rate, false_positive_rate, by_typology: {typology: interception}} (fractions 0-1)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if not labels.any() or labels.all():
        return {"auprc": 0.0, "interception_rate": 0.0, "false_positive_rate": 0.0, "by_typology": {}}
    threshold = threshold_for(np.sort(scores[~labels])[::-1], fpr_max)
    flagged = scores >= threshold
    types = np.array([t or "unlabelled" for t in fraud_types], dtype=object)
    by_typology = {str(t): round(float(flagged[labels & (types == t)].mean()), 6)
                   for t in sorted(set(types[labels]))}
    return {"auprc": round(float(average_precision_score(labels, scores)), 4),
            "interception_rate": round(float(flagged[labels].mean()), 6),
            "false_positive_rate": round(float(flagged[~labels].mean()), 6),
            "by_typology": by_typology}
