"""`juhe report monthly|compliance`: write a report's PDF; `--json` prints its summary figures."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer
from rich.console import Console

from juhe.config import get_settings

report_app = typer.Typer(help="Monthly transaction reviews and quarterly compliance reports (PDF).", no_args_is_help=True)
DATABASE = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL.")
MERCHANT = typer.Option(None, "--merchant", help="A merchant's id; without it, the whole platform.")
OUT = typer.Option(None, "--out", help="The PDF to write; defaults to juhe-<kind>-<period>.pdf here.")
AS_JSON = typer.Option(False, "--json", help="Print the summary figures as one JSON object (rates as fractions 0-1).")


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]✗[/red] {message}")
    raise typer.Exit(2)


def _merchant(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        _fail(f"unknown_merchant: {text!r} is not a merchant id")


def _run(kind: str, label: str, merchant: str | None, out: Path | None, as_json: bool, database_url: str | None) -> None:
    from juhe.db.engine import Database
    from juhe.reports import service
    from juhe.reports.periods import ReportError

    merchant_id = _merchant(merchant)
    db = Database(database_url or get_settings().database_url)
    try:
        pdf, summary = (service.monthly if kind == "monthly" else service.compliance)(db, label, merchant_id)
    except ReportError as refusal:
        _fail(f"{refusal.code}: {refusal}")
    finally:
        db.dispose()
    path = out or Path(service.file_name(kind, summary["month" if kind == "monthly" else "quarter"]))
    path.write_bytes(pdf)
    if as_json:
        print(json.dumps(summary | {"file": str(path), "bytes": len(pdf)}, ensure_ascii=False, default=str))
    else:
        Console().print(f"[green]✓[/green] {path} ({len(pdf):,} bytes)")


@report_app.command("monthly")
def monthly(month: str = typer.Option(..., "--month", help="YYYY-MM, Beijing calendar month (2026-10)."),
            merchant: str = MERCHANT, out: Path = OUT, as_json: bool = AS_JSON, database_url: str = DATABASE) -> None:
    """Monthly transaction review (月度交易复盘): volumes, success rates, fees, refunds, risk and
    reconciliation per channel, store and business line, with charts and the change on the month before."""
    _run("monthly", month, merchant, out, as_json, database_url)


@report_app.command("compliance")
def compliance(quarter: str = typer.Option(..., "--quarter", help="YYYYQn (2026Q3)."),
               merchant: str = MERCHANT, out: Path = OUT, as_json: bool = AS_JSON, database_url: str = DATABASE) -> None:
    """Quarterly compliance report (季度合规报告): AML alerts and cases, STR and large-value reports,
    reserve-fund proofs, the audit trail's summary and chain, and the access review."""
    _run("compliance", quarter, merchant, out, as_json, database_url)
