"""`juhe settle …`: run a settlement date, prove the reserve funds, set a fee schedule."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path

import typer
from rich.console import Console

from juhe.config import get_settings

settle_app = typer.Typer(help="Settlement: runs, payouts, reserve-fund proofs, fee schedules.", no_args_is_help=True)
console = Console()


def _fail(message: str, code: int = 2) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"--date must be a date like 2025-10-09, not {text!r}")


def _audit(db, action: str, outcome: str, **fields) -> None:
    """Money moved (or was proven) by an operator at the command line: into the audit trail."""
    from juhe.audit import trail

    trail.record_now(db, trail.cli_record(action, outcome, **fields))


def _database(url: str | None):
    from juhe.db.engine import Database
    from juhe.recon import models as _recon  # noqa: F401 -- tables the run reads
    from juhe.settlement import models as _settlement  # noqa: F401

    return Database(url or get_settings().database_url)


@settle_app.command("run")
def run(
    day: str = typer.Option(..., "--date", help="The settlement date, YYYY-MM-DD (today or earlier)."),
    merchant: str = typer.Option(None, "--merchant", help="Only this merchant (id)."),
    database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Settle a date: batches of reconciled payments less refunds and fees, each net held on its
    payables. The worker files them to the bank (pain.001) and settles them by pain.002."""
    from juhe.settlement.errors import SettlementError
    from juhe.settlement.service import run_settlement

    settlement_date = _day(day)
    try:
        merchant_id = uuid.UUID(merchant) if merchant else None
    except ValueError:
        _fail(f"--merchant must be a merchant id, not {merchant!r}")
    db = _database(database_url)
    audited = {"merchant_id": merchant_id, "object_type": "settlement_date", "object_id": str(settlement_date)}
    try:
        result = run_settlement(db, settlement_date, merchant_id=merchant_id)
        _audit(db, "settle.run", "succeeded", **audited,
               detail={"batches": sum(len(m.batch_ids) for m in result.merchants), "working_day": result.working_day})
    except SettlementError as error:
        _audit(db, "settle.run", f"failed:{error.code}", **audited)
        _fail(f"{error.code}: {error}")
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
        return
    if not result.working_day:
        console.print(f"{settlement_date} is not a working day: nothing settles")
        return
    for merchant_run in result.merchants:
        console.print(f"merchant {merchant_run.merchant_id}: {merchant_run.outcome}, "
                      f"{len(merchant_run.batch_ids)} batch(es), business dates through {merchant_run.due_through}")
    if result.without_profile:
        console.print(f"{result.without_profile} merchant(s) without a settlement profile were not settled")


@settle_app.command("reserve-proof")
def reserve_proof(
    day: str = typer.Option(..., "--date", help="The day proven, YYYY-MM-DD."),
    statement: Path = typer.Option(..., "--statement", exists=True, dir_okay=False,
                                   help="The reserve account's camt.053 (or MT940) for the day."),
    reserve_account: str = typer.Option("reserve:bank", "--reserve-account", help="The ledger account of that bank account."),
    database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Customer funds owed (payables) against the reserve account's closing balance; exit 1 on a mismatch."""
    from juhe.settlement.reserve import ReserveError, prove_reserve

    proven_day = _day(day)
    db = _database(database_url)
    audited = {"object_type": "reserve_proof", "object_id": str(proven_day)}
    try:
        with db.engine.begin() as conn:
            proof = prove_reserve(conn, proven_day, statement.read_bytes(), reserve_account=reserve_account)
        _audit(db, "settle.reserve-proof", "succeeded" if proof.ok else "failed:reserve_mismatch", **audited,
               detail={"reserve_account": reserve_account, "statement": statement.name})
    except ReserveError as error:
        _audit(db, "settle.reserve-proof", f"failed:{error.code}", **audited)
        _fail(f"{error.code}: {error}")
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(proof.as_json()))
    else:
        for line in proof.currencies:
            mark = "[green]✓[/green]" if line.ok else "[red]✗[/red]"
            console.print(f"{mark} {line.currency}: owed {line.liabilities_minor}, in transit {line.in_transit_minor}, "
                          f"bank {line.bank_balance_minor}, ledger reserve {line.ledger_reserve_minor}, "
                          f"difference {line.difference_minor}, coverage {line.coverage_minor}")
    if not proof.ok:
        raise typer.Exit(1)


@settle_app.command("fee-schedule")
def fee_schedule(
    merchant: str = typer.Argument(..., help="The merchant's id."),
    channel: str = typer.Argument(..., help="The channel code, e.g. alipay."),
    definition: Path = typer.Argument(..., exists=True, dir_okay=False, help="The schedule as a JSON file."),
    effective_from: str = typer.Option(None, "--effective-from", help="ISO time with zone; default now."),
    database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
) -> None:
    """Set a merchant's fee schedule on a channel (checked first; every problem is listed)."""
    from juhe.settlement.errors import SettlementError
    from juhe.settlement.schedules import set_fee_schedule

    try:
        merchant_id = uuid.UUID(merchant)
        starts = datetime.fromisoformat(effective_from) if effective_from else None
        parsed = json.loads(definition.read_text(encoding="utf-8"))
    except ValueError as error:
        _fail(str(error))
    if starts is not None and starts.tzinfo is None:
        _fail("--effective-from needs a time zone, e.g. 2025-11-01T00:00:00+08:00")
    from juhe.audit import trail

    db = _database(database_url)
    audited = {"merchant_id": merchant_id, "object_type": "fee_schedule", "object_id": channel}
    try:
        with db.session() as session, session.begin():
            row = set_fee_schedule(session, merchant_id, channel, parsed, starts)
            trail.append(session, [trail.cli_record("settle.fee-schedule", "succeeded", **audited,
                                                    detail={"effective_from": row.effective_from.isoformat()})])
            console.print(f"fee schedule for {channel} from {row.effective_from.isoformat()}: {json.dumps(row.definition)}")
    except SettlementError as error:
        _audit(db, "settle.fee-schedule", f"failed:{error.code}", **audited)
        for problem in error.errors:
            Console(stderr=True).print(f"  {problem}")
        _fail(f"{error.code}: {error}")
    finally:
        db.dispose()
