"""Alerts: what a monitoring scenario found, on which account, in which window, on which evidence.

Scenarios find *triggers* (one per movement whose window meets the scenario's rule); triggers of
one account whose windows overlap are one pattern, so they merge into one alert with the union
of their evidence. The alert id is a digest of scenario, account and evidence: running the same
data twice gives the same ids, so storing alerts can be idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

SCORE_AT_TRIGGER = 0.5  # a pattern exactly at its threshold scores 0.5; twice the threshold scores 1
ALERT_ID_HEX = 20
TRIGGER_COLUMNS = ("account_id", "currency", "window_start", "window_end", "ids", "measure")


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    scenario: str
    account_id: str
    currency: str
    window_start: datetime
    window_end: datetime
    movement_ids: tuple[str, ...]  # the evidence, in time order
    score: float  # 0-1
    reason: str  # one sentence a reviewer (and the STR) can use
    figures: dict = field(default_factory=dict)  # the observed numbers behind the reason

    def to_json(self) -> dict:
        return {"alert_id": self.alert_id, "scenario": self.scenario, "account_id": self.account_id,
                "currency": self.currency, "window_start": self.window_start.isoformat(),
                "window_end": self.window_end.isoformat(), "movement_ids": list(self.movement_ids),
                "score": self.score, "reason": self.reason, "figures": self.figures}


def alert_id(scenario: str, account_id: str, currency: str, movement_ids: tuple[str, ...]) -> str:
    text = "\x1f".join((scenario, account_id, currency, *sorted(movement_ids)))
    return hashlib.sha256(text.encode()).hexdigest()[:ALERT_ID_HEX]


def score_of(measure: float) -> float:
    """measure: how many times the scenario's threshold was met (>= 1 for a trigger)."""
    return round(min(1.0, SCORE_AT_TRIGGER * measure), 3)


def merge_triggers(triggers: pl.DataFrame, scenario: str, describe, order: dict[str, int]) -> list[Alert]:
    """One alert per run of overlapping trigger windows of an account.

    `triggers` has TRIGGER_COLUMNS plus the scenario's figures; `describe(figures) -> str` writes
    the reason from the strongest trigger's figures; `order` ranks movement ids in time."""
    missing = [name for name in TRIGGER_COLUMNS if name not in triggers.columns]
    assert not missing, f"triggers lack {missing}"
    runs: list[list[dict]] = []
    run_end = None
    for row in triggers.sort("account_id", "currency", "window_start", "window_end").iter_rows(named=True):
        joins = runs and _same_account(runs[-1][0], row) and row["window_start"] <= run_end
        if joins:
            runs[-1].append(row)
            run_end = max(run_end, row["window_end"])
        else:
            runs.append([row])
            run_end = row["window_end"]
    return [_alert(run, scenario, describe, order) for run in runs]


def _same_account(a: dict, b: dict) -> bool:
    return (a["account_id"], a["currency"]) == (b["account_id"], b["currency"])


def _alert(run: list[dict], scenario: str, describe, order: dict[str, int]) -> Alert:
    strongest = max(run, key=lambda row: row["measure"])
    evidence = tuple(sorted({movement for row in run for movement in row["ids"]}, key=order.__getitem__))
    figures = {key: value for key, value in strongest.items() if key not in TRIGGER_COLUMNS}
    account_id, currency = run[0]["account_id"], run[0]["currency"]
    return Alert(
        alert_id=alert_id(scenario, account_id, currency, evidence), scenario=scenario,
        account_id=account_id, currency=currency,
        window_start=min(row["window_start"] for row in run), window_end=max(row["window_end"] for row in run),
        movement_ids=evidence, score=score_of(strongest["measure"]),
        reason=describe({**figures, "currency": currency, "movements": len(evidence)}), figures=figures,
    )
