"""`juhe simulate --days N`: back-fill the demo retailer's last N days (see backfill.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as dtime

import time_machine
import typer
from rich.console import Console
from rich.table import Table

from juhe.config import get_settings
from juhe.progress import printed_json, progress_bars, track
from juhe.simulation.business import BEIJING, DEFAULT_PAYMENTS_PER_DAY

DAYS_MAX = 366
PAYMENTS_PER_DAY_MAX = 20_000
DEFAULT_SEED = 2026


def simulate(
    days: int = typer.Option(30, "--days", min=1, max=DAYS_MAX, help="How many days to back-fill, ending yesterday."),
    payments_per_day: int = typer.Option(DEFAULT_PAYMENTS_PER_DAY, "--payments-per-day", min=1, max=PAYMENTS_PER_DAY_MAX,
                                         help="A weekday's sales (weekends a quarter more)."),
    first: str = typer.Option(None, "--first-day", help="The first day (YYYY-MM-DD); defaults to --days before today."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="The same seed plays the same month."),
    once: bool = typer.Option(False, "--once", help="Do nothing when the database already holds payments (make demo)."),
    chaos: bool = typer.Option(False, "--chaos", help="Every channel times out, fails, loses and repeats notifications all "
                               "day (as `juhe chaos payments`); the books must still verify."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object of the figures."),
) -> None:
    """Back-fill a month of Lotus Mart's business through the payments core: store QR, card and face
    payments, web and app payments, supplier transfers, refunds, fraud attempts, channel faults,
    and each day's reconciliation, settlement and reserve proof."""
    from juhe.db.engine import Database
    from juhe.demo import seed_demo
    from juhe.simulation.backfill import Backfill

    today = datetime.now(BEIJING).date()
    first_day = _first_day(first, today - timedelta(days=days))
    if first_day + timedelta(days=days) > today:
        fail(f"the last day to back-fill would be {first_day + timedelta(days=days - 1)}: only days before today can be played")
    settings = get_settings()
    db = Database(settings.database_url)
    if once and _has_payments(db):
        Console(stderr=True).print("the database already holds payments: nothing back-filled (--once)")
        db.dispose()
        return
    # Seeded on the first day, when its reserve account opened: the reserve proof of each day
    # counts what the ledger held by then (a database seeded today cannot prove last month).
    with time_machine.travel(datetime.combine(first_day, dtime(7, 0), BEIJING), tick=True):
        seeded = seed_demo(db, settings.data_dir / "demo-keys.json")
    merchant_id = uuid.UUID(seeded["merchants"][0]["id"])
    started = time.monotonic()
    backfill = Backfill(db, settings.data_dir, settings.public_base_url, _risk(settings, db), chaos=chaos)
    try:
        with progress_bars(not as_json) as bars:
            expected = round(payments_per_day * days * 1.08)  # weekends are busier; a guide for the bar only
            advance = track(bars, f"{days} days from {first_day}", expected)
            tally = asyncio.run(_played(backfill, merchant_id, first_day, days, seed, payments_per_day, advance))
        figures = _figures(db, tally, merchant_id, first_day, days, time.monotonic() - started)
    finally:
        db.dispose()
    if not printed_json(figures, as_json):
        _print(figures)
    if not (figures["ledger_ok"] and figures["bnpl_books_agree"]):
        raise typer.Exit(1)


def _has_payments(db) -> bool:
    from sqlalchemy import select

    from juhe.payments.models import Payment

    with db.reader() as session:
        return session.scalar(select(Payment.id).limit(1)) is not None


def _first_day(text: str | None, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--first-day must be a date like 2026-11-01, not {text!r}")


def fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


async def _played(backfill, *args):
    try:
        return await backfill.run(*args)
    finally:
        await backfill.close()


def _risk(settings, db):
    if not settings.risk_engine:
        return None
    from juhe.payments.risk_hook import EngineRisk

    return EngineRisk.from_registry(settings.data_dir / "risk", db)


def _figures(db, tally, merchant_id: uuid.UUID, first_day: date, days: int, elapsed_s: float) -> dict:
    from juhe.bnpl.service import exposure
    from juhe.ledger import verify_ledger
    from juhe.simulation.summary import summary

    figures = summary(db, merchant_id, first_day, first_day + timedelta(days=days - 1))
    with db.engine.connect() as conn:
        ledger_ok = verify_ledger(conn).ok
    with db.reader() as session:
        owed, receivable = exposure(session, "CNY")
    return {"ledger_ok": ledger_ok, "bnpl_books_agree": owed == receivable,"first_day": first_day.isoformat(), "days": days, **figures, "bnpl": tally.bnpl, "refused": tally.refused,
            "transfer_batches": tally.transfer_batches, "seconds": round(elapsed_s, 1),
            "payments_per_s": round(figures["payments"] / elapsed_s, 1) if elapsed_s else 0.0}


def _print(figures: dict) -> None:
    table = Table(title=f"Lotus Mart, {figures['days']} days from {figures['first_day']}", title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    for status, count in sorted(figures["by_status"].items()):
        table.add_row(f"payments {status}", f"{count:,}")
    for status, count in sorted(figures["refunds"].items()):
        table.add_row(f"refunds {status}", f"{count:,}")
    for code, count in sorted(figures["refused"].items()):
        table.add_row(f"refused at once: {code}", f"{count:,}")
    for key in ("qr_code_payments", "installment_sales", "transfer_batches", "recon_runs", "recon_days", "open_cases", "settlement_batches", "reserve_proven_days"):
        table.add_row(key.replace("_", " "), f"{figures[key]:,}")
    Console().print(table)
    bnpl, rated = figures["bnpl"], figures["satisfaction"]
    Console().print(f"BNPL: conversion {bnpl['conversion_with_bnpl']:.1%} offered, {bnpl['conversion_without_bnpl']:.1%} not "
                    f"({bnpl['bought_on_line']} on the line); late rate {figures['bnpl_late_rate']:.1%}, default rate "
                    f"{figures['bnpl_default_rate']:.1%}; subscriptions {figures['subscriptions']}; ratings {rated['ratings']}"
                    + (f", {rated['satisfied_rate']:.1%} satisfied" if rated["ratings"] else ""))
    Console().print(f"ledger {'verifies' if figures['ledger_ok'] else 'DOES NOT VERIFY'}")
    Console().print(f"{figures['payments']:,} payments in {figures['seconds']} s ({figures['payments_per_s']}/s)")
