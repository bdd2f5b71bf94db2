"""`juhe bench recon`: the reconciliation matcher over a generated day, beside a plain full join.

1. `generate_day` makes about `lines` statement lines against as many items of ours, with
   `rate` of them broken in every way the matcher knows (not timed).
2. Baseline, same run, same frames: one Polars full join of the two frames on the trade number
   (refund_no for refunds, order_no otherwise) and a when/then classification of each row --
   no duplicates, no second key, no bank lines without reference, no cut-off, no input checks.
3. The matcher (`juhe.recon.matching.match`), input checks included; its result is scored
   against what was injected: every injected outcome found, nothing invented, or the figures say so.

Each side runs ROUNDS times, alternating, and its fastest round counts: the machine is shared,
and the first touch of fresh memory should not be charged to whichever side happens to go first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Callable

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from juhe.recon.generator import generate_day, score
from juhe.recon.matching import match
from juhe.bench.report import printed_json

DEFAULT_LINES = 1_000_000
DEFAULT_RATE = 0.005
SEED = 20_250_601
BUSINESS_DATE = date(2025, 6, 1)
ROUNDS = 2
LINES_PER_PAYMENT = 1.03  # the generator adds 4 % refunds and leaves 1 % failed payments off the statement
MAX_LINES = 20_000_000  # about 8 GB of frames: beyond it the machine, not the matcher, is measured
AIM_RATIO = 3.0  # matcher seconds / baseline seconds
AIM_TOTAL_S = 10.0  # the whole run, generation included, on 2 cores


class BenchError(ValueError):
    """The benchmark cannot run with these arguments."""


@dataclass(frozen=True, slots=True)
class ReconBench:
    lines: int  # statement lines
    orders: int  # items of ours
    seconds: float  # the matcher, fastest round
    baseline_seconds: float  # the plain full join, fastest round
    generation_seconds: float
    total_seconds: float
    injected: int
    found: int
    missed: int
    invented: int

    @property
    def ratio(self) -> float:
        return round(self.seconds / self.baseline_seconds, 3) if self.baseline_seconds > 0 else 0.0

    def figures(self) -> dict[str, float | int]:
        return {"lines": self.lines, "seconds": round(self.seconds, 4), "baseline_seconds": round(self.baseline_seconds, 4),
                "ratio": self.ratio, "injected": self.injected, "found": self.found, "missed": self.missed,
                "invented": self.invented}

    def table(self) -> Table:
        table = Table(title=f"Reconciliation matching vs. a plain Polars full join ({self.orders:,} items of ours)",
                      title_justify="left")
        for heading in ("lines", "seconds", "lines/s", "baseline s", "ratio"):
            table.add_column(heading, justify="right", no_wrap=True)
        mark = "[green]{} ✓[/green]" if self.ratio <= AIM_RATIO else "[red]{} ✗[/red]"
        table.add_row(f"{self.lines:,}", f"{self.seconds:.3f}", f"{self.lines / self.seconds:,.0f}",
                      f"{self.baseline_seconds:.3f}", mark.format(f"{self.ratio:.2f}"))
        return table

    def notes(self) -> list[str]:
        clean = "✓" if self.missed == 0 and self.invented == 0 else "✗"
        whole = "✓" if self.total_seconds < AIM_TOTAL_S else "✗"
        return [f"Injected {self.injected:,}: found {self.found:,}, missed {self.missed:,}, "
                f"invented {self.invented:,} {clean}.",
                f"Whole run {self.total_seconds:.1f} s (generation {self.generation_seconds:.1f} s, "
                f"not in the seconds above; "
                f"aim < {AIM_TOTAL_S:g} s {whole}). Aim: ratio ≤ {AIM_RATIO:g}; fastest of {ROUNDS} rounds each."]

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if printed_json(self.figures(), as_json):
            return
        console = console or Console()
        console.print(self.table())
        for note in self.notes():
            console.print(f"[dim]{note}[/dim]")


def run(lines: int = DEFAULT_LINES, rate: float = DEFAULT_RATE, seed: int = SEED) -> ReconBench:
    if not 1 <= lines <= MAX_LINES:
        raise BenchError(f"--lines must be 1–{MAX_LINES:,}")
    if not 0 <= rate <= 1:
        raise BenchError("--rate is a fraction between 0 and 1")
    started = time.perf_counter()
    try:
        ours, statement, injected = generate_day(max(1, round(lines / LINES_PER_PAYMENT)), seed, BUSINESS_DATE, rate)
    except ValueError as e:
        raise BenchError(str(e)) from e
    generated = time.perf_counter()
    baseline_seconds, seconds, result = float("inf"), float("inf"), None
    for _ in range(ROUNDS):
        baseline_seconds = min(baseline_seconds, _timed(lambda: baseline(statement, ours))[0])
        elapsed, result = _timed(lambda: match(statement, ours, BUSINESS_DATE))
        seconds = min(seconds, elapsed)
    figures = score(result, injected)
    return ReconBench(statement.height, ours.height, seconds, baseline_seconds, generated - started,
                      time.perf_counter() - started, **figures)


def baseline(statement: pl.DataFrame, ours: pl.DataFrame) -> pl.DataFrame:
    """What a first attempt would do: one full join on the trade number, one verdict per row."""
    number = pl.when(pl.col("kind") == "refund").then(pl.col("refund_no")).otherwise(pl.col("order_no")).alias("_key")
    joined = statement.with_columns(number).join(ours.with_columns(number), on="_key", how="full", coalesce=True,
                                                 suffix="_ours", maintain_order="none")
    return joined.with_columns(category=pl.when(pl.col("amount_minor_ours").is_null()).then(pl.lit("missing_ours"))
                               .when(pl.col("amount_minor").is_null()).then(pl.lit("missing_channel"))
                               .when(pl.col("amount_minor") != pl.col("amount_minor_ours")).then(pl.lit("amount_mismatch"))
                               .when(pl.col("status") != pl.col("status_ours")).then(pl.lit("status_mismatch"))
                               .when(pl.col("fee_minor") != pl.col("fee_minor_ours")).then(pl.lit("fee_mismatch"))
                               .otherwise(pl.lit("matched")))


def _timed(work: Callable) -> tuple[float, object]:
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def command(
    lines: int = typer.Option(DEFAULT_LINES, "--lines", help="Statement lines (and about as many items of ours)."),
    rate: float = typer.Option(DEFAULT_RATE, "--rate", help="Share of lines with an injected discrepancy (0–1)."),
    seed: int = typer.Option(SEED, "--seed", help="Seeds the generated day."),
    as_json: bool = typer.Option(False, "--json", help="Print {lines, seconds, baseline_seconds, ratio, injected, "
                                                       "found, missed, invented}."),
) -> None:
    """Reconciliation matching of a generated day (with injected discrepancies) vs. a plain Polars full join."""
    try:
        result = run(lines=lines, rate=rate, seed=seed)
    except BenchError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    result.print(as_json=as_json)
