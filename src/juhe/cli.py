"""The `juhe` command."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from juhe.config import get_settings

app = typer.Typer(help="Juhe (聚合): self-hosted payment and treasury platform.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks, each beside a baseline measured in the same run.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(bench_app, name="bench")
console = Console()


def fail(message: str, code: int = 2) -> None:
    """A CLI error: one clear line on stderr and a non-zero exit."""
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def serve(
    host: str = typer.Option(None, help="Defaults to JUHE_API_HOST (127.0.0.1)."),
    port: int = typer.Option(None, help="Defaults to JUHE_API_PORT (8000)."),
) -> None:
    """Serve the API (migrates the database first)."""
    import uvicorn

    from juhe.api.app import create_app

    settings = get_settings()
    uvicorn.run(create_app(), host=host or settings.api_host, port=port or settings.api_port, log_level=settings.log_level)


@app.command()
def demo(port: int = typer.Option(None, help="Defaults to JUHE_API_PORT (8000).")) -> None:
    """Seed the demo enterprise on the embedded database and serve the API."""
    import uvicorn

    from juhe.api.app import create_app
    from juhe.db.engine import Database
    from juhe.demo import seed_demo

    settings = get_settings()
    db = Database(settings.database_url)
    seeded = seed_demo(db, settings.data_dir / "demo-keys.json")
    port = port or settings.api_port
    base = f"http://{settings.api_host}:{port}"
    console.rule("[bold]Juhe demo")
    console.print(f"database: {settings.database_url}   API: {base}/v1   docs: {base}/docs")
    for merchant in seeded["merchants"]:
        console.print(f"\n[bold]{merchant['name']}[/bold] ({merchant['industry']}) id={merchant['id']}")
        for role, secret in merchant["api_keys"].items():
            console.print(f"  {role:9} {secret}")
    finance = seeded["merchants"][0]["api_keys"]["finance"]
    console.print(f"\ntry: curl -H 'Authorization: Bearer {finance}' {base}/v1/accounts\n")
    uvicorn.run(create_app(db), host=settings.api_host, port=port, log_level=settings.log_level)


@ledger_app.command("verify")
def ledger_verify(
    database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Prove the ledger: transactions balance, balances equal entries, totals are zero."""
    from juhe.db.engine import Database
    from juhe.ledger import verify_ledger

    db = Database(database_url or get_settings().database_url)
    with db.engine.connect().execution_options(sqlite_read_only=True) as conn, conn.begin():
        report = verify_ledger(conn)
    if as_json:
        print(json.dumps({"ok": report.ok, "transactions": report.transactions, "entries": report.entries,
                          "accounts": report.accounts, "totals_by_currency": report.totals_by_currency,
                          "problems": report.problems}))
    else:
        console.print(f"{report.transactions} transactions, {report.entries} entries, {report.accounts} accounts")
        for currency, total in sorted(report.totals_by_currency.items()):
            console.print(f"  posted total {currency}: {total}")
        for problem in report.problems:
            console.print(f"[red]✗[/red] {problem}")
        console.print("[green]ledger OK[/green]" if report.ok else f"[red]{len(report.problems)} problem(s)[/red]")
    if not report.ok:
        raise typer.Exit(1)
