"""`juhe bench forecast` (registered on the bench app by juhe.cli); the benchmark itself is juhe.bench.forecast.

Here, beside the benchmark: the domain package does not import juhe.bench.
"""

from __future__ import annotations

import typer
from rich.console import Console

CANDIDATES = "AutoETS,AutoARIMA,MSTL"  # juhe.treasury.forecast.CANDIDATES, without importing numpy at start-up


def bench_forecast(
    demo_days: int = typer.Option(392, "--demo-days", help="Days of demo history (the first origin trains on ~200)."),
    public_series: int = typer.Option(60, "--public-series", help="M3 monthly sales series to backtest (624 ship)."),
    models: str = typer.Option(CANDIDATES, "--models", help="Candidates to choose from, comma-separated."),
    select: int = typer.Option(2, "--select", help="Origins each series' model is chosen on."),
    score: int = typer.Option(2, "--score", help="Later origins the choice is scored on."),
    as_json: bool = typer.Option(False, "--json", help='Print {"demo": {...}, "public": {...}, "advice": [...]} '
                                 '(keys in the README).'),
) -> None:
    """Backtest accuracy (MASE, sMAPE, interval coverage) beside seasonal-naive, seconds per 1,000 series,
    and the idle balance before and after following the advice on the demo."""
    from juhe.bench.forecast import print_report, run  # inside: pandas and statsforecast come with it
    from juhe.progress import printed_json
    from juhe.treasury.forecast import ForecastError

    console = Console()
    try:
        figures = run(demo_days, public_series, tuple(m.strip() for m in models.split(",") if m.strip()), select, score)
    except ForecastError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error.code}: {error}")
        raise typer.Exit(1) from None
    if not printed_json(figures, as_json):
        print_report(figures, console)
