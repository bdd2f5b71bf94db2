"""Shared output of `juhe bench …`: a rich table for people, one JSON object for dashboards.

A benchmark builds a `Report` of `Comparison`s -- each one measured figure beside the
baseline measured in the same run -- and calls `report.print(as_json=…)`:

    table   one row per comparison: what, count, rate, baseline rate, ratio; a cell with an
            aim is marked ✓ (green) when met, ✗ (red) when missed; a benchmark never fails on it
    JSON    {group: {"<name>_<unit>": rate, "baseline_<name>_<unit>": rate, "<name>_ratio": ratio}}

Rates are rounded to 0.1 and ratios (fractions, 1.0 = as fast as the baseline) are computed
from the rounded rates, so that a dashboard can recompute them exactly.
Progress bars and the JSON line come from juhe.progress, shared with the domains' commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from juhe.progress import Advance, printed_json, progress_bars, track  # noqa: F401  (benchmarks import them from here)


@dataclass(frozen=True, slots=True)
class Comparison:
    group: str  # JSON section, e.g. "sqlite"
    name: str  # JSON key stem, e.g. "batch" -> batch_tps, baseline_batch_tps, batch_ratio
    label: str  # table row, e.g. "1,000/commit"
    count: int  # operations measured (each side)
    rate: float  # operations per second of the thing benchmarked
    baseline_rate: float  # operations per second of the baseline, same run
    group_label: str = ""  # table's first column, e.g. "SQLite"; defaults to group
    unit: str = "tps"  # JSON key suffix
    unit_label: str = "per s"  # table heading of the rate column
    aim_rate: float | None = None  # colours the rate cell; a benchmark never fails on its aim
    aim_ratio: float | None = None

    @property
    def rounded(self) -> tuple[float, float, float]:
        rate, baseline = round(self.rate, 1), round(self.baseline_rate, 1)
        return rate, baseline, round(rate / baseline, 4) if baseline > 0 else 0.0

    def figures(self) -> dict[str, float]:
        rate, baseline, ratio = self.rounded
        return {f"{self.name}_{self.unit}": rate, f"baseline_{self.name}_{self.unit}": baseline, f"{self.name}_ratio": ratio}

    def has_aim(self) -> bool:
        return self.aim_rate is not None or self.aim_ratio is not None

    def aim_text(self) -> str:
        parts = []
        if self.aim_rate is not None:
            parts.append(f"≥{self.aim_rate:,.0f}/s")
        if self.aim_ratio is not None:
            parts.append(f"ratio ≥{self.aim_ratio:g}")
        return " and ".join(parts)


def _marked(text: str, aim: float | None, value: float) -> str:
    """Green ✓ when the aim is met, red ✗ when missed (marks survive without colour), plain without."""
    if aim is None:
        return text
    return f"[green]{text} ✓[/green]" if value >= aim else f"[red]{text} ✗[/red]"


@dataclass(slots=True)
class Report:
    title: str
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed under the table, never in the JSON

    def add(self, comparison: Comparison) -> Comparison:
        self.comparisons.append(comparison)
        return comparison

    def figures(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for c in self.comparisons:
            out.setdefault(c.group, {}).update(c.figures())
        return out

    def table(self) -> Table:
        unit = self.comparisons[0].unit_label if self.comparisons else "per s"
        table = Table(title=self.title, title_justify="left")
        table.add_column("", no_wrap=True)
        table.add_column("run", no_wrap=True)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column(unit, justify="right", no_wrap=True)
        table.add_column("baseline", justify="right", no_wrap=True)
        table.add_column("ratio", justify="right", no_wrap=True)
        previous = None
        for c in self.comparisons:
            rate, baseline, ratio = c.rounded
            group = c.group_label or c.group
            table.add_row(group if group != previous else "", c.label, f"{c.count:,}", _marked(f"{rate:,.0f}", c.aim_rate, rate),
                          f"{baseline:,.0f}", _marked(f"{ratio:.2f}", c.aim_ratio, ratio))
            previous = group
        return table

    def aims(self) -> str:
        """The legend of the coloured cells, or "" when nothing has an aim."""
        aims = [f"{c.group_label or c.group} {c.label} {c.aim_text()}" for c in self.comparisons if c.has_aim()]
        return f"Aims (✓ met, ✗ missed): {'; '.join(aims)}." if aims else ""

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if printed_json(self.figures(), as_json):
            return
        console = console or Console()
        console.print(self.table())
        for note in filter(None, [self.aims(), *self.notes]):
            console.print(f"[dim]{note}[/dim]")
