"""What a rule set would have done to a history, before anyone activates it.

`dry_run(rules, frame)` evaluates every rule over a feature frame (`replay.feature_frame`,
scored rows) with its Polars expression and counts, per rule and in total, the payments it
would have stepped up or blocked; with labels, also how many of them were fraud and how
many legit (the false positives a new rule would add).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass

import polars as pl
from rich.console import Console
from rich.table import Table

from juhe.risk.rules import RuleSet


@dataclass(frozen=True, slots=True)
class RuleCount:
    id: str
    then: str
    fired: int
    fraud: int
    legit: int


@dataclass(frozen=True, slots=True)
class DryRun:
    version: str
    payments: int
    fraud_payments: int
    fired: int  # payments at least one rule fires on
    would_step_up: int  # the most severe rule fired says step_up
    would_block: int
    fraud_caught: int  # fraud payments any rule fires on
    legit_hit: int  # legit payments any rule fires on
    rules: list[RuleCount]

    def figures(self) -> dict:
        return asdict(self)

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if as_json:
            sys.stdout.write(json.dumps(self.figures()) + "\n")
            return
        table = Table(title=f"Dry run of rule set {self.version} over {self.payments:,} payments "
                            f"({self.fraud_payments:,} fraud)", title_justify="left")
        for column in ("rule", "then", "fired", "fraud", "legit"):
            table.add_column(column, justify="left" if column in ("rule", "then") else "right")
        for rule in self.rules:
            table.add_row(rule.id, rule.then, f"{rule.fired:,}", f"{rule.fraud:,}", f"{rule.legit:,}")
        table.add_row("any", "", f"{self.fired:,}", f"{self.fraud_caught:,}", f"{self.legit_hit:,}", style="bold")
        (console or Console()).print(table)
        (console or Console()).print(f"would step up {self.would_step_up:,}, would block {self.would_block:,}")


def dry_run(rules: RuleSet, frame: pl.DataFrame) -> DryRun:
    rows = frame.filter(pl.col("scored")) if "scored" in frame.columns else frame
    fraud = pl.col("is_fraud").fill_null(False) if "is_fraud" in rows.columns else pl.lit(False)
    flags = rows.select(fraud.alias("_fraud"), *[r.expression.fill_null(False).alias(f"_r{i}")
                                                  for i, r in enumerate(rules.rules)])
    counts = []
    for i, rule in enumerate(rules.rules):
        hit = flags[f"_r{i}"]
        counts.append(RuleCount(rule.id, rule.then, int(hit.sum()), int((hit & flags["_fraud"]).sum()),
                                int((hit & ~flags["_fraud"]).sum())))
    blocks = [flags[f"_r{i}"] for i, r in enumerate(rules.rules) if r.then == "block"]
    any_fired = _any(flags, [flags[f"_r{i}"] for i in range(len(rules.rules))])
    any_block = _any(flags, blocks)
    return DryRun(rules.version, rows.height, int(flags["_fraud"].sum()), int(any_fired.sum()),
                  int((any_fired & ~any_block).sum()), int(any_block.sum()), int((any_fired & flags["_fraud"]).sum()),
                  int((any_fired & ~flags["_fraud"]).sum()), counts)


def _any(flags: pl.DataFrame, series: list[pl.Series]) -> pl.Series:
    if not series:
        return pl.Series([False] * flags.height, dtype=pl.Boolean)
    return flags.select(pl.any_horizontal(series)).to_series()
