"""`juhe statement …`: read a channel statement file as reconciliation will see it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from juhe.money import Money
from juhe.recon.statements import (
    FORMATS, STATEMENT_BYTES_MAX, ReadStatement, StatementError, detect_format, read_statement, statement_totals,
)  # fmt: skip

statement_app = typer.Typer(help="Channel statements: trade bills, camt.053, MT940.", no_args_is_help=True)
TABLE_WIDTH_PIPED = 200
COLUMNS = ("line", "kind", "our number", "channel ref", "amount", "fee", "status", "time (UTC)", "counterparty · text")


@statement_app.callback()
def statement() -> None:
    """Channel statements: trade bills, camt.053, MT940."""


@statement_app.command("parse")
def parse(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The statement file."),
    fmt: str = typer.Option(None, "--format", help=f"{' | '.join(FORMATS)}; detected when not given."),
    channel: str = typer.Option(None, "--channel", help="Channel code (crossborder: the correspondent's camt.053)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print the file's lines as reconciliation reads them, and its warnings (a statement that does not
    add up to its closing balance); a file that cannot be read whole exits 1."""
    if file.stat().st_size > STATEMENT_BYTES_MAX:
        _fail(f"{file} has {file.stat().st_size} bytes; a statement has at most {STATEMENT_BYTES_MAX}")
    raw = file.read_bytes()
    try:
        read = read_statement(raw, fmt, channel)
    except StatementError as error:
        _fail(f"{error} ({error.code})")
    detected = fmt or (detect_format(raw) if raw.strip() else None)  # None: a channel's empty day
    if as_json:
        print(json.dumps(_summary(detected, read), ensure_ascii=False))
        return
    _print_table(detected, read)


def _fail(message: str) -> None:
    # Plain text, not rich markup: a reason may quote the file's own brackets.
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _summary(fmt: str | None, read: ReadStatement) -> dict:
    frame = read.frame
    lines = [
        {**row, "occurred_at": row["occurred_at"].isoformat() if row["occurred_at"] else None}
        for row in frame.to_dicts()
    ]
    return {"format": fmt, "lines": lines, "count": frame.height, "totals": statement_totals(frame),
            "warnings": read.warnings}  # fmt: skip


def _print_table(fmt: str | None, read: ReadStatement) -> None:
    """One row per line; the amount signed by direction (+ credit, − debit) to keep the table narrow."""
    frame = read.frame
    table = Table(title=f"{fmt or 'empty'}: {frame.height} lines")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in ("line", "amount", "fee") else "left", overflow="fold")
    for row in frame.iter_rows(named=True):
        sign = "+" if row["direction"] == "credit" else "-"
        table.add_row(
            str(row["line_no"]), row["kind"], " / ".join(filter(None, (row["order_no"], row["refund_no"]))),
            row["channel_txn_id"] or "",
            f"{sign}{Money(row['amount_minor'], row['currency']).decimal_text()} {row['currency']}",
            Money(row["fee_minor"], row["currency"]).decimal_text(), row["status"],
            f"{row['occurred_at']:%Y-%m-%d %H:%M:%S}",
            " · ".join(filter(None, (row["counterparty"], row["reference"]))),
        )  # fmt: skip
    console = Console()
    if not console.is_terminal:  # piped to a file or a pager: as wide as the lines, not 80 columns
        console = Console(width=TABLE_WIDTH_PIPED)
    console.print(table)
    for currency, total in statement_totals(frame).items():
        credit, debit = Money(total["credit_minor"], currency), Money(total["debit_minor"], currency)
        console.print(f"{currency}: credits {credit.decimal_text()}, debits {debit.decimal_text()}", markup=False)
    for warning in read.warnings:
        place = f"line {warning['line']}: " if warning.get("line") is not None else ""
        console.print(f"warning: {place}{warning['message']} ({warning['code']})", markup=False)


recon_app = typer.Typer(help="Reconciliation of channel statements against our books.", no_args_is_help=True)


@recon_app.callback()
def recon() -> None:
    """Reconciliation of channel statements against our books."""


@recon_app.command("run")
def run(
    channel: str = typer.Option(..., "--channel", help="alipay, wechatpay, unionpay, facepay, pos, bank or crossborder"),
    day: str = typer.Option(..., "--date", help="The business date, YYYY-MM-DD."),
    statement: Path = typer.Option(None, "--statement", exists=True, dir_okay=False,
                                   help="Reconcile this file instead of downloading the channel's statement."),
    as_json: bool = typer.Option(False, "--json", help="Print the run as one JSON object."),
) -> None:
    """Reconcile a channel's statement of a business date; a date already reconciled is shown, not redone."""
    import asyncio
    from datetime import date

    from juhe.recon.views import run_view
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.recon.service import ReconRunError, run_reconciliation
    from juhe.runtime import Runtime

    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        _fail(f"--date must be YYYY-MM-DD, not {day!r}")
    settings = get_settings()

    async def main():
        runtime = Runtime(settings, Database(settings.database_url), host_sandboxes=False)
        try:
            raw = statement.read_bytes() if statement else None
            return await run_reconciliation(runtime.payments, channel, business_date, statement=raw)
        finally:
            await runtime.close()

    try:
        found, created = asyncio.run(main())
    except ReconRunError as e:
        _fail(f"{e} ({e.code})")
    view = run_view(found)
    if as_json:
        print(json.dumps(view))
        return
    console = Console()
    console.print(f"{channel} {business_date}: {view['statement_lines']:,} statement lines"
                  f"{'' if created else ' (reconciled before; shown as it was)'}")
    table = Table("category", "currency", "rows", "ours", "channel")
    for category, currencies in view["summary"]["categories"].items():
        for currency, figures in currencies.items():
            table.add_row(category, currency, f"{figures['rows']:,}", f"{figures['ours_amount_minor']:,}",
                          f"{figures['channel_amount_minor']:,}")
    console.print(table)
    for warning in view["summary"].get("warnings", []):  # runs stored before warnings existed have none
        console.print(f"warning: line {warning['line']}: {warning['message']} ({warning['code']})", markup=False)
    console.print(f"auto-resolved {view['summary']['auto_resolved']}, open cases {view['summary']['open_cases']}")
