"""`juhe keys rotate | rewrap | status`: the master keys of personal data (juhe.pii)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from juhe.config import get_settings

keys_app = typer.Typer(help="Master keys of personal data: rotate, re-wrap, what each version still wraps.", no_args_is_help=True)

DATABASE = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL.")
KEYRING = typer.Option(None, "--keyring", help="Defaults to JUHE_PII_KEYRING_FILE, else data_dir/pii/keyring.json.")
BATCH = typer.Option(500, "--batch-size", help="Values re-wrapped per transaction (1 to 5000).")
JSON = typer.Option(False, "--json", help="Print one JSON object of the figures.")


@keys_app.command("rotate")
def rotate(database_url: str = DATABASE, keyring_file: Path = KEYRING, batch_size: int = BATCH, as_json: bool = JSON) -> None:
    """Add a master key version, make it primary, then re-wrap every older value's data key under it.
    Running processes pick the new version up from the file; older versions keep opening until re-wrapped."""
    _run(database_url, keyring_file, batch_size, as_json, add_version=True)


@keys_app.command("rewrap")
def rewrap(database_url: str = DATABASE, keyring_file: Path = KEYRING, batch_size: int = BATCH, as_json: bool = JSON) -> None:
    """Finish an interrupted rotation: re-wrap what is still under an older version, add none."""
    _run(database_url, keyring_file, batch_size, as_json, add_version=False)


@keys_app.command("status")
def status(database_url: str = DATABASE, keyring_file: Path = KEYRING, as_json: bool = JSON) -> None:
    """The primary version and how many stored values each version wraps, per column."""
    from juhe.db.engine import Database
    from juhe.pii import keyring, rotation

    keyring.use(keyring_file)
    db = Database(database_url or get_settings().database_url)
    try:
        with db.reader() as session:
            found = rotation.versions_in_use(session)
    finally:
        db.dispose()
    ring = keyring.active()
    figures = {"key_id": ring.key_id, "primary": ring.primary, "versions": sorted(ring.versions),
               "values": [{"column": c, "version": v, "count": n} for (c, v), n in sorted(found.items())]}
    if as_json:
        print(json.dumps(figures))
        return
    Console().print(f"{ring.key_id}: primary v{ring.primary}, versions {', '.join(f'v{v}' for v in sorted(ring.versions))}")
    for row in figures["values"]:
        Console().print(f"  {row['column']:<40} v{row['version']}  {row['count']}")


def _run(database_url: str | None, keyring_file: Path | None, batch_size: int, as_json: bool, add_version: bool) -> None:
    from juhe.db.engine import Database
    from juhe.pii import keyring, rotation

    keyring.use(keyring_file)
    path = keyring_file or keyring.default_path()
    db = Database(database_url or get_settings().database_url)
    try:
        if add_version:
            report = rotation.rotate(path, db.session, batch_size)
        else:
            report = rotation.rewrap_all(keyring.load_or_create(path), db.session, batch_size)
    except (ValueError, keyring.KeyringError) as error:
        Console(stderr=True).print(f"[red]✗[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    figures = {"primary": report.primary, "rewrapped": report.rewrapped, "changed_meanwhile": report.changed_meanwhile,
               "batches": report.batches, "per_column": dict(report.per_column)}
    if as_json:
        print(json.dumps(figures))
    else:
        Console().print(f"[green]ok[/green] primary v{report.primary}: {report.rewrapped} values re-wrapped "
                        f"in {report.batches} batches, {report.changed_meanwhile} rewritten meanwhile")
