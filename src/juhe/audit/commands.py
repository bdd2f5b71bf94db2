"""`juhe audit verify`: walk the hash chain of the audit trail; exit 1 on an edited or deleted record."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from juhe.config import get_settings

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
    as_json: bool = typer.Option(False, "--json", help="Print {ok, records, first_bad_id, problems}."),
) -> None:
    """Recompute every record's hash and check the chain has no gap and ends at its head."""
    from juhe.audit import trail
    from juhe.db.engine import Database

    db = Database(database_url or get_settings().database_url)
    try:
        with db.reader() as session:
            check = trail.verify(session)
    finally:
        db.dispose()
    if as_json:
        print(json.dumps({"ok": not check.problems, "records": check.records, "first_bad_id": check.first_bad_id,
                          "problems": check.problems}, ensure_ascii=False))
    elif not check.problems:
        Console().print(f"[green]ok[/green] the audit trail verifies: {check.records} records")
    else:
        for problem in check.problems:
            Console(stderr=True).print(f"[red]✗[/red] {problem}")
    if check.problems:
        raise typer.Exit(1)
