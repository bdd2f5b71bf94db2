"""`juhe bench risk`: risk decisions per second in process and over HTTP (registered on the bench app by juhe.cli).

Here, beside the benchmark, rather than in juhe.risk.commands: the domain package does not import juhe.bench.
"""

from __future__ import annotations

from pathlib import Path

import typer

from juhe.risk.commands import DIR, console, fail, registry_at
from juhe.risk.facts import RiskError


def bench_risk(
    decisions: int = typer.Option(20_000, "--decisions", help="Decisions to time (each side)."),
    payers: int = typer.Option(2_000, "--payers", help="Payers in the generated traffic."),
    folder: Path = DIR,
    http: bool = typer.Option(True, "--http/--no-http", help="Also time POST /v1/risk/decisions over HTTP (API served in this process)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"in_process": {decisions_per_s, p50_ms, p99_ms}, '
                                 '"http": {...}, "baseline": {lookups_per_s, p50_ms, p99_ms}, "ratio"}.'),
) -> None:
    """Risk decisions per second and their latency in process and over HTTP, beside the feature lookup alone."""
    from juhe.bench import risk as bench  # inside: it pulls in polars and lightgbm
    from juhe.progress import progress_bars

    try:
        model = registry_at(folder).active_model()
        with progress_bars() as progress:
            result = bench.run(decisions=decisions, payers=payers, model=model, over_http=http, progress=progress)
    except (bench.BenchError, RiskError) as error:
        fail(str(error), 1)
    result.print(as_json=as_json, console=console)
