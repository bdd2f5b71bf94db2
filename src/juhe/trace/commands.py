"""`juhe trace …`: sign a tree head now, and verify — a proof document offline with only the
public key, or the whole log in the database (every leaf recomputed from its record)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from rich.console import Console

from juhe.config import get_settings

trace_app = typer.Typer(help="The tamper-evident Merkle log: signed tree heads and proofs.", no_args_is_help=True)
console = Console()


def _fail(message: str, code: int = 2) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _database():
    from juhe.db.engine import Database

    return Database(get_settings().database_url)


def _key():
    from juhe.trace import heads, publisher

    return heads.load_or_create_key(publisher.key_file(get_settings()))


@trace_app.command("head")
def head(as_json: bool = typer.Option(False, "--json", help="Print {tree_size, root_hash, note, public_key}.")) -> None:
    """Sign the tree as it is now (after taking in what is new) and print the signed note."""
    from juhe.trace import heads, ingest, publisher

    db = _database()
    key = _key()
    ingest.ingest(db)
    signed = publisher.publish_head(db, key)
    if as_json:
        print(json.dumps({"tree_size": signed.tree_size, "root_hash": bytes(signed.root_hash).hex(),
                          "note": heads.note(signed), "public_key": heads.public_key_text(key)}))
        return
    console.print(heads.note(signed), end="", markup=False, highlight=False)


@trace_app.command("verify")
def verify(
    proof_file: Path = typer.Argument(None, help="A proof document (GET /v1/trace/proofs/…); omit with --database."),
    public_key: Path = typer.Option(None, "--public-key", help="The log's public key (PEM); default: the data dir's key."),
    database: bool = typer.Option(False, "--database", help="Recompute the whole log in JUHE_DATABASE_URL instead."),
    witness_file: Path = typer.Option(None, "--witness", help="With --database: a witness file of signed heads the log must still match."),
    as_json: bool = typer.Option(False, "--json", help="Print {ok, leaves, first_bad_leaf, problems} (--database) "
                                 "or {ok, proves} (a proof file)."),
) -> None:
    """Check a proof offline, or the whole log; exit 1 when something does not verify."""
    from juhe.trace import heads, merkle, proofs

    key = _public_key(public_key)
    if database:
        witnessed = _witnessed(witness_file, key) if witness_file else []
        db = _database()
        with db.reader() as session:
            check = proofs.verify_database(session, key, witnessed)
        _report({"ok": not check.problems, "leaves": check.leaves, "first_bad_leaf": check.first_bad_leaf,
                 "problems": check.problems}, as_json, f"the log verifies: {check.leaves} leaves")
        return
    if proof_file is None:
        _fail("give a proof file, or --database")
    try:
        document = json.loads(proof_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        _fail(f"cannot read {proof_file}: {e}")
    try:
        proves = proofs.verify_document(document, key)
    except (merkle.ProofError, heads.HeadError) as e:
        _report({"ok": False, "problems": [str(e)]}, as_json, "")
        return
    _report({"ok": True, "proves": proves}, as_json, proves)


def _witnessed(path: Path, key):
    from juhe.trace import heads, witness

    try:
        return witness.checkpoints(path.read_text(encoding="utf-8"), key)
    except OSError as e:
        _fail(f"cannot read the witness file {path}: {e}")
    except heads.HeadError as e:
        _fail(f"the witness file {path} holds a head this key did not sign: {e}", 1)


def _public_key(path: Path | None):
    if path is None:
        return _key().public_key()
    try:
        return serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as e:
        _fail(f"cannot read the public key {path}: {e}")


def _report(result: dict, as_json: bool, ok_text: str) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    elif result["ok"]:
        console.print(f"[green]ok[/green] {ok_text}")
    else:
        for problem in result["problems"]:
            Console(stderr=True).print(f"[red]✗[/red] {problem}", markup=True, highlight=False)
    if not result["ok"]:
        raise typer.Exit(1)
