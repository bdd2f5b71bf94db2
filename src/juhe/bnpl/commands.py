"""`juhe bnpl report`: conversion with and without BNPL, late and default rates."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

bnpl_app = typer.Typer(help="Buy now, pay later (先享后付): reports.", no_args_is_help=True)


@bnpl_app.command("report")
def report(
    payers: int = typer.Option(500, "--payers", help="Checkouts, one per simulated payer (1–20,000)."),
    seed: int = typer.Option(7, "--seed", help="Seed of the population."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run a demo-like population through the BNPL service, payments core and ledger on a
    throwaway database over 10 months of its clock, and report what BNPL changed."""
    from juhe.bnpl.simulation import PAYERS_MAX, report as run_report

    if not 1 <= payers <= PAYERS_MAX:
        Console(stderr=True).print(f"[red]error:[/red] --payers is 1–{PAYERS_MAX}, not {payers}")
        raise typer.Exit(2)
    figures = run_report(payers, seed)
    if as_json:
        typer.echo(json.dumps(figures))
    else:
        table = Table("figure", "value", title=f"BNPL over {payers} checkouts (seed {seed})")
        for key, value in figures.items():
            table.add_row(key, f"{value:.1%}" if isinstance(value, float) else str(value))
        Console().print(table)
    if not (figures["ledger_ok"] and figures["books_agree"]):
        raise typer.Exit(1)
