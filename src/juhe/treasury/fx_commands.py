"""`juhe treasury fx-cost`: a day's cross-border FX cost in bps against mid, before and after netting."""

from __future__ import annotations

import json
import uuid
from datetime import date

import typer
from rich.console import Console
from rich.table import Table


def fx_cost(day: str = typer.Option(None, "--day", help="YYYY-MM-DD, Beijing time; today when left out."),
            merchant: str = typer.Option(None, "--merchant", help="One merchant's payments; all when left out."),
            sample_seed: int = typer.Option(None, "--sample-seed", help="A simulated exporter's day instead of the payments."),
            database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
            as_json: bool = typer.Option(False, "--json", help="Print one JSON object (reduction as a fraction).")) -> None:
    """Quotes from every FX desk, the day's flows netted per currency pair and converted in the onshore
    session: the cost in bps of the gross flows against the mid rate, before and after."""
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.db.types import utcnow
    from juhe.settlement.calendar import business_date
    from juhe.treasury import fx_cost as cost
    from juhe.treasury import fx_desks

    settings = get_settings()
    try:
        on = date.fromisoformat(day) if day else business_date(utcnow())
        merchant_id = uuid.UUID(merchant) if merchant else None
    except ValueError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    url = fx_desks.desks_url(settings.fx_desks_url, settings.channel_mode)
    if url is None:
        Console(stderr=True).print("[red]error:[/red] no FX desks: set JUHE_FX_DESKS_URL or run in sandbox mode")
        raise typer.Exit(2)
    if sample_seed is not None:
        flows = cost.sample_day(on, sample_seed)
    else:
        db = Database(database_url or settings.database_url)
        try:
            with db.reader() as session:
                flows = cost.flows_of_day(session, on, merchant_id)
        finally:
            db.dispose()
    answer = cost.report(flows, url)
    if as_json:
        typer.echo(json.dumps(answer))
        return
    table = Table("pair", "flows", "gross CNY", "net", "before bps", "after bps", "dealt",
                  title=f"FX cost on {on.isoformat()} against mid (before: each payment at {fx_desks.DEFAULT_DESK})")
    for p in answer["pairs"]:
        dealt = f"{p['dealt']['desk']} {p['dealt']['at'][11:16]} ({p['dealt']['spread_bps']} bps)" if p["dealt"] else "-"
        table.add_row(p["pair"], str(p["flows"]), f"{p['gross_minor'] / 100:,.2f}", f"{p['net_minor']:,} {p['net_side'] or ''}",
                      f"{p['before_bps']:.2f}", f"{p['after_bps']:.2f}", dealt)
    table.add_row("all", str(answer["flows"]), f"{answer['gross_minor'] / 100:,.2f}", "", f"{answer['before_bps']:.2f}",
                  f"{answer['after_bps']:.2f}", f"−{answer['reduction']:.1%}")
    console = Console()
    console.print(table)
    console.print(f"before {answer['before_bps']:.2f} bps; best desk alone {answer['best_desk_bps']:.2f}; "
                  f"in session alone {answer['timed_bps']:.2f}; netted in session {answer['netted_bps']:.2f}; "
                  f"netted, in session, best desk {answer['after_bps']:.2f}")
