"""`juhe aml …`: screen a name, monitor a movements file, generate movements to try it on."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from juhe.aml.errors import AmlError

# Spelt out rather than imported: `juhe --help` should not load Polars and pypinyin (a test keeps
# these in step with juhe.aml.scenarios.SCENARIOS and juhe.aml.screening.DEFAULT_THRESHOLD).
SCENARIO_NAMES = ("structuring", "rapid_in_out", "high_frequency_large", "dormant_reactivation", "fan_in", "fan_out")
THRESHOLD_DEFAULT = 88.0

aml_app = typer.Typer(help="Anti-money laundering: sanctions screening, transaction monitoring.", no_args_is_help=True)
console = Console()


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(2)


@aml_app.command()
def screen(
    name: str = typer.Argument(..., help="The payer's, payee's or counterparty's name (any script)"),
    lists: list[Path] = typer.Option(None, "--list", exists=True, dir_okay=False,
                                     help="A list file: OFAC sdn.csv (alt.csv beside it is read), a consolidated "
                                          "CSV, or name,aliases,type,country,dob,list. Repeat for several."),
    country: str = typer.Option(None, help="Nationality or country, as the lists write it (boosts a match)"),
    dob: str = typer.Option(None, help="Date of birth, e.g. 1975-04-02 or 1975 (boosts a match)"),
    threshold: float = typer.Option(THRESHOLD_DEFAULT, help="Score (0-100) at which a hit holds for review"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Screen a name against sanctions and watch lists; any hit means hold for review."""
    from juhe.aml.service import load_watch_list

    if not lists:
        _fail("give at least one --list FILE")
    try:
        result = load_watch_list(lists).screen(name, country=country, dob=dob, threshold=threshold)
    except AmlError as error:
        _fail(str(error))
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    verdict = "[bold red]HOLD FOR REVIEW[/bold red]" if result.hold_for_review else "[green]no hit[/green]"
    console.print(f"{name}: {verdict} (threshold {threshold:g})")
    if result.hits:
        table = Table("score", "list", "entry", "matched", "type", "dob", "country")
        for hit in result.hits:
            table.add_row(f"{hit.score:.1f}", hit.list_name, f"{hit.entry.name} [{hit.entry.entry_id}]",
                          hit.matched_alias or "(name)", hit.entry.entity_type, _flag(hit.dob_match),
                          _flag(hit.country_match))
        console.print(table)


def _flag(value: bool | None) -> str:
    return {True: "agrees", False: "differs", None: "-"}[value]


@aml_app.command()
def monitor(
    movements: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV of movements (see juhe.aml.movements)"),
    scenario: list[str] = typer.Option(None, "--scenario", help=f"Only these: {', '.join(SCENARIO_NAMES)}"),
    large_value_out: Path = typer.Option(None, "--large-value-out", help="Also write the large-value report CSV here"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Run the monitoring scenarios over a movements file and list the alerts."""
    from juhe.aml.service import monitor_file, write_large_value_report

    try:
        run = monitor_file(movements, scenarios=scenario or None)
        large_rows = write_large_value_report(run.frame, large_value_out) if large_value_out else None
    except AmlError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot write {large_value_out}: {error.strerror}")
    by_scenario = {name: sum(1 for alert in run.alerts if alert.scenario == name) for name in SCENARIO_NAMES}
    if as_json:
        typer.echo(json.dumps({"movements": run.movements, "alert_count": len(run.alerts), "by_scenario": by_scenario,
                               "large_value_rows": large_rows, "alerts": [a.to_json() for a in run.alerts]},
                              ensure_ascii=False))
        return
    console.print(f"{run.movements} movements, {len(run.alerts)} alerts")
    if run.alerts:
        table = Table("score", "scenario", "account", "window", "evidence", "reason")
        for alert in run.alerts:
            window = f"{alert.window_start:%Y-%m-%d %H:%M} → {alert.window_end:%Y-%m-%d %H:%M}"
            table.add_row(f"{alert.score:.2f}", alert.scenario, alert.account_id, window,
                          str(len(alert.movement_ids)), alert.reason)
        console.print(table)
    if large_rows is not None:
        console.print(f"large-value report: {large_rows} movements → {large_value_out}")


@aml_app.command()
def generate(
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Where to write the movements CSV"),
    scenario: list[str] = typer.Option(None, "--scenario", help=f"Plant this pattern (repeatable, or 'all'): "
                                                                 f"{', '.join(SCENARIO_NAMES)}"),
    seed: int = typer.Option(0, help="Same seed, same movements"),
    accounts: int = typer.Option(30, help="Background accounts (planted ones come on top)"),
    days: int = typer.Option(365, help="Length of the period"),
    currency: str = typer.Option("CNY", help="A currency the monitoring limits know"),
) -> None:
    """Write synthetic movements, with the chosen scenarios planted on their own accounts."""
    from juhe.aml.generator import generate_movements
    from juhe.aml.movements import write_movements_csv

    chosen = list(SCENARIO_NAMES) if "all" in (scenario or []) else (scenario or [])
    try:
        generated = generate_movements(seed, chosen, accounts=accounts, days=days, currency=currency)
        write_movements_csv(generated.frame, out)
    except AmlError as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot write {out}: {error.strerror}")
    typer.echo(f"{generated.frame.height} movements -> {out}")
    for name, carriers in generated.planted.items():
        typer.echo(f"  {name}: {', '.join(carriers)}")


@aml_app.command("run")
def run_monitoring_command(
    first_day: str = typer.Option(..., "--from", help="First report day (Beijing calendar day), YYYY-MM-DD"),
    last_day: str = typer.Option(None, "--to", help="Last report day, inclusive (default: the first)"),
    merchant: str = typer.Option(None, help="Only this merchant's id (default: every merchant)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object"),
) -> None:
    """Monitor the database's payments, refunds, payments out and transfers; store new alerts and cases."""
    import uuid
    from datetime import date

    from juhe.aml.config import MonitoringConfig
    from juhe.aml.monitoring_runs import monitoring_run, report_day
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.db.models import load_all_models

    try:
        first = date.fromisoformat(first_day)
        last = date.fromisoformat(last_day) if last_day else first
        merchant_id = uuid.UUID(merchant) if merchant else None
    except ValueError as error:
        _fail(str(error))
    config = MonitoringConfig()
    load_all_models()
    db = Database(get_settings().database_url)
    try:
        summary = monitoring_run(db, report_day(first, config)[0], report_day(last, config)[1], merchant_id=merchant_id,
                                 actor="cli", config=config)
    except AmlError as error:
        _fail(str(error))
    finally:
        db.dispose()
    figures = {"run_id": str(summary.run_id), "movements": summary.movements, "alert_count": len(summary.alert_ids),
               "cases_opened": len(summary.cases_opened), "unmonitored": summary.unmonitored}
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False))
        return
    console.print(f"{summary.movements} movements, {len(summary.alert_ids)} new alerts, "
                  f"{len(summary.cases_opened)} cases opened")
    for item in summary.unmonitored:
        console.print(f"[yellow]not monitored:[/yellow] {item}")
