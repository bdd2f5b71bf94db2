"""A reconciliation run: fetch a channel's statement for a business date, parse it, match it
against our books, prove away what can be proven, and keep the rest as cases for finance.

Proven away (auto-resolved) are: a payment the channel shows paid while we still wait or gave
up — we ask the channel, and its answer moves the payment on and books it (an order we had
abandoned is refunded, as for any late payment); a line the statement repeats; an item that
settles on the next business date (carried, and judged on that date, never reported twice).

A statement that does not add up to its own closing balance (a warning of the parse) is still
reconciled line by line, and becomes a `balance_mismatch` case of its own with both figures.

A run per channel and date is kept once: running it again returns the first run unchanged.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, time, timedelta

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.channels.base import ChannelError
from juhe.monitor.alerts import raise_alert
from juhe.payments.context import PaymentsContext
from juhe.payments.models import PaymentAttempt
from juhe.payments.outcomes import apply_payment_status
from juhe.recon.matching import ReconError, Result, business_day, match
from juhe.recon.models import ReconCase, ReconCaseEvent, ReconItem, ReconRun
from juhe.recon.ours import our_items
from juhe.recon.statements import ReadStatement, StatementError, has_reader, lines_frame, read_statement
from juhe.safety.crashpoints import hit as crash_point

SYSTEM = "system:recon"
SETTLED = ("succeeded", "refunded")
PROVABLE = {"applied", "duplicate", "orphan_refunded"}  # what the channel's answer did to our books


class ReconRunError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class Options:
    tz: str = "Asia/Shanghai"
    cutoff: time = time(0, 0)


async def run_reconciliation(ctx: PaymentsContext, channel: str, business_date: date, *,
                             statement: bytes | None = None, options: Options = Options()) -> tuple[ReconRun, bool]:
    """Returns the run and whether it was made now (False: the date was reconciled before)."""
    if channel not in ctx.channels:
        raise ReconRunError(404, "channel_not_found", f"no channel {channel!r}")
    # Reading the statement, matching and storing run on the database's threads, off the loop.
    existing = await ctx.db.run(_existing, ctx, channel, business_date)
    if existing is not None:
        return existing, False
    raw = statement if statement is not None else await _download(ctx, channel, business_date)
    result, read = await ctx.db.run(_match, ctx, channel, business_date, raw, options)
    proven = await _prove(ctx, result.discrepancies())
    crash_point("recon.proven")
    return await ctx.db.run(_store_once, ctx, channel, business_date, raw, read, result, proven)


def _store_once(ctx: PaymentsContext, channel: str, business_date: date, raw: bytes, read: ReadStatement, result: Result,
                proven: dict[int, str]) -> tuple[ReconRun, bool]:  # fmt: skip
    try:
        with ctx.db.session() as session, session.begin():
            return _store(session, channel, business_date, raw, read, result, proven), True
    except IntegrityError:  # a concurrent run of the same date won
        return _existing(ctx, channel, business_date), False


def _existing(ctx: PaymentsContext, channel: str, business_date: date) -> ReconRun | None:
    with ctx.db.reader() as session:
        return session.scalar(select(ReconRun).where(ReconRun.channel == channel, ReconRun.business_date == business_date))


async def _download(ctx: PaymentsContext, channel: str, business_date: date) -> bytes:
    try:
        return await ctx.channels[channel].download_statement(business_date)
    except ChannelError as e:
        raise ReconRunError(502, "statement_unavailable", f"{channel} statement of {business_date}: {e}") from None


def _match(ctx: PaymentsContext, channel: str, business_date: date, raw: bytes,
           options: Options) -> tuple[Result, ReadStatement]:  # fmt: skip
    try:
        read = _statement(ctx, channel, raw)
    except StatementError as e:
        raise ReconRunError(422, e.code, f"{channel} statement of {business_date}: {e}") from None
    day = business_day(business_date, options.tz, options.cutoff)
    before = business_day(business_date - timedelta(days=1), options.tz, options.cutoff)
    with ctx.db.reader() as session:
        ours = our_items(session, channel, day.start, day.end)
        carried = _carried(session, channel, before)
    try:
        return match(read.frame, ours, business_date, tz=options.tz, cutoff=options.cutoff, carried=carried), read
    except ReconError as e:
        raise ReconRunError(422, e.code, str(e)) from None


def _statement(ctx: PaymentsContext, channel: str, raw: bytes) -> ReadStatement:
    """The common formats are read here, line-exact; a channel with a format of its own parses it."""
    if has_reader(channel):
        return read_statement(raw, channel=channel)
    try:
        lines = ctx.channels[channel].parse_statement(raw)
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        raise StatementError("malformed_statement", f"{type(e).__name__}: {e}", None) from None
    return ReadStatement(lines_frame(lines, channel))


def _carried(session: Session, channel: str, before) -> pl.DataFrame:
    """Yesterday's items that settle today: our_items of yesterday, those marked cross_day."""
    marked = session.execute(select(ReconItem.payment_id, ReconItem.refund_id).where(
        ReconItem.channel == channel, ReconItem.business_date == before.business_date, ReconItem.category == "cross_day")).all()
    items = our_items(session, channel, before.start, before.end)
    if not marked:
        return items.clear()
    keys = pl.DataFrame({"payment_id": [str(p) for p, _ in marked], "refund_key": [str(r) if r else "" for _, r in marked]})
    return (items.with_columns(refund_key=pl.col("refund_no").fill_null(""))
            .join(_refund_keys(session, keys), on=["payment_id", "refund_key"], how="semi").drop("refund_key"))


def _refund_keys(session: Session, keys: pl.DataFrame) -> pl.DataFrame:
    """ReconItem keeps refunds by id; our items name them by refund number."""
    from juhe.payments.models import Refund

    ids = [uuid.UUID(r) for r in keys["refund_key"] if r]
    numbers = dict(session.execute(select(Refund.id, Refund.refund_no).where(Refund.id.in_(ids))).all()) if ids else {}
    return keys.with_columns(refund_key=pl.col("refund_key").map_elements(
        lambda r: numbers.get(uuid.UUID(r), "") if r else "", return_dtype=pl.String))


async def _prove(ctx: PaymentsContext, discrepancies: pl.DataFrame) -> dict[int, str]:
    """Ask the channel about orders it shows paid that our books do not: row index → outcome."""
    proven: dict[int, str] = {}
    for index, row in enumerate(discrepancies.iter_rows(named=True)):
        if row["reason"] == "duplicate_line":
            proven[index] = "duplicate line in the statement, counted once"
        elif _channel_paid_we_did_not(row):
            outcome = await _ask_channel(ctx, row)
            if outcome in PROVABLE:
                proven[index] = f"the channel confirmed it paid; booked ({outcome})"
    return proven


def _channel_paid_we_did_not(row: dict) -> bool:
    ours_unsettled = row["ours_status"] not in SETTLED
    return (row["kind"] == "payment" and row["order_no"] is not None and row["channel_status"] in SETTLED
            and ((row["category"] == "status_mismatch" and ours_unsettled) or row["category"] == "missing_ours"))


async def _ask_channel(ctx: PaymentsContext, row: dict) -> str | None:
    attempt = await ctx.db.run(_attempt, ctx, row["order_no"])
    if attempt is None:
        return None
    try:
        status = await ctx.channels[attempt.channel].query(attempt.order_no)
    except ChannelError:
        return None
    if status.state != "succeeded":
        return None
    return await ctx.db.run(apply_payment_status, ctx, attempt.order_no, status, "reconciliation")


def _attempt(ctx: PaymentsContext, order_no: str) -> PaymentAttempt | None:
    with ctx.db.reader() as session:
        return session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_no == order_no))


def _store(session: Session, channel: str, business_date: date, raw: bytes, read: ReadStatement, result: Result,
           proven: dict[int, str]) -> ReconRun:  # fmt: skip
    run = ReconRun(id=uuid.uuid4(), channel=channel, business_date=business_date, statement_lines=read.frame.height,
                   statement_sha256=hashlib.sha256(raw).hexdigest(), summary=_summary(result, proven, read.warnings))
    session.add(run)
    session.flush()
    _keep_items(session, run, result.rows)
    for index, row in enumerate(result.discrepancies().iter_rows(named=True)):
        if row["category"] != "cross_day":
            _open_case(session, run, row, proven.get(index))
    for warning in read.warnings:
        if warning["code"] == "balance_mismatch":
            _open_case(session, run, _balance_case_row(warning), None)
    _alert_open_cases(session, run)
    return run


def _alert_open_cases(session: Session, run: ReconRun) -> None:
    """One alert per merchant (and one for lines of no merchant) with cases left open by this run."""
    open_cases = session.execute(select(ReconCase.merchant_id, func.count()).where(
        ReconCase.run_id == run.id, ReconCase.status == "open").group_by(ReconCase.merchant_id)).all()
    for merchant_id, count in open_cases:
        raise_alert(session.connection(), "recon_difference", merchant_id,
                    f"{count} reconciliation difference(s): {run.channel} {run.business_date}",
                    {"run_id": str(run.id), "open_cases": count}, f"recon:{run.id}:{merchant_id}")


def _balance_case_row(warning: dict) -> dict:
    """A case row for a statement that does not add up: ours is what its lines make, the channel's
    what its closing balance says; no merchant, as the whole account is concerned."""
    return {
        "merchant_id": None, "category": "balance_mismatch", "reason": "balance_mismatch", "kind": None,
        "order_no": None, "refund_no": None, "payment_id": None, "channel_txn_id": warning["statement_id"][:64],
        "line_no": warning["line"], "currency": warning["currency"],
        "ours_amount_minor": warning["computed_closing_minor"], "channel_amount_minor": warning["closing_minor"],
        "ours_fee_minor": None, "channel_fee_minor": None, "comment": warning["message"],
    }  # fmt: skip


def _summary(result: Result, proven: dict[int, str], warnings: list[dict]) -> dict:
    per_category = {}
    for row in result.summary().iter_rows(named=True):
        entry = per_category.setdefault(row["category"], {})
        entry[row["currency"]] = {"rows": row["rows"], "ours_amount_minor": row["ours_amount_minor"] or 0,
                                  "channel_amount_minor": row["channel_amount_minor"] or 0}
    mismatches = sum(1 for w in warnings if w["code"] == "balance_mismatch")
    return {"categories": per_category, "auto_resolved": len(proven), "warnings": warnings,
            "open_cases": int((result.discrepancies()["category"] != "cross_day").sum()) - len(proven) + mismatches}


def _keep_items(session: Session, run: ReconRun, rows: pl.DataFrame) -> None:
    """What settlement reads: each payment and refund of ours with its latest judgement."""
    from juhe.payments.models import Refund

    ours = rows.filter(pl.col("payment_id").is_not_null())
    numbers = [n for n in ours["refund_no"].to_list() if n]
    refund_ids = dict(session.execute(select(Refund.refund_no, Refund.id).where(Refund.refund_no.in_(numbers))).all()) if numbers else {}
    for row in ours.iter_rows(named=True):
        refund_id = refund_ids.get(row["refund_no"]) if row["kind"] == "refund" else None
        kind = "refund" if refund_id else "payment"
        item = session.scalar(select(ReconItem).where(ReconItem.kind == kind, ReconItem.payment_id == uuid.UUID(row["payment_id"]),
                                                      ReconItem.refund_id == refund_id if refund_id else ReconItem.refund_id.is_(None)))
        if item is None:
            item = ReconItem(kind=kind, payment_id=uuid.UUID(row["payment_id"]), refund_id=refund_id)
            session.add(item)
        item.merchant_id, item.channel, item.business_date = uuid.UUID(row["merchant_id"]), run.channel, run.business_date
        item.category, item.run_id = str(row["category"]), run.id
    session.flush()


def _open_case(session: Session, run: ReconRun, row: dict, proof: str | None) -> None:
    case = ReconCase(
        id=uuid.uuid4(), merchant_id=uuid.UUID(row["merchant_id"]) if row["merchant_id"] else None, run_id=run.id,
        channel=run.channel, business_date=run.business_date, category=str(row["category"]), reason=str(row["reason"]),
        kind=row["kind"], order_no=row["order_no"], refund_no=row["refund_no"],
        payment_id=uuid.UUID(row["payment_id"]) if row["payment_id"] else None, channel_txn_id=row["channel_txn_id"],
        line_no=row["line_no"], currency=row["currency"], ours_amount_minor=row["ours_amount_minor"],
        channel_amount_minor=row["channel_amount_minor"], ours_fee_minor=row["ours_fee_minor"],
        channel_fee_minor=row["channel_fee_minor"], status="auto_resolved" if proof else "open", owner="finance",
        resolution=proof,
    )  # fmt: skip
    session.add(case)
    session.add(ReconCaseEvent(merchant_id=case.merchant_id, case_id=case.id, actor=SYSTEM, action="opened",
                               comment=row.get("comment") or f"{case.category} ({case.reason})"))
    if proof:
        session.add(ReconCaseEvent(merchant_id=case.merchant_id, case_id=case.id, actor=SYSTEM, action="auto_resolved", comment=proof))
