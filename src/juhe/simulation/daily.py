"""The end of a simulated day, as the worker and the platform operator would do it: poll what
no notification told, then reconcile every channel's statement, settle, pay out and prove the
reserve funds — each through the domain service the API's routes call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from juhe.channels.base import ChannelError
from juhe.db.types import utcnow
from juhe.ledger import expire_holds
from juhe.monitor.service import Evaluator
from juhe.payments.context import PaymentsContext
from juhe.payments.poller import poll_due
from juhe.recon.service import ReconRunError, run_reconciliation
from juhe.risk.dbstore import purge_expired as purge_risk_buckets
from juhe.settlement import calendar
from juhe.settlement.errors import SettlementError
from juhe.settlement.payouts import poll_payouts
from juhe.settlement.reserve import ReserveError, prove_reserve
from juhe.settlement.service import run_settlement
from juhe.transfers.service import poll_batches

CHANNELS = ("alipay", "wechatpay", "unionpay", "facepay", "pos", "bank", "crossborder")
RECONCILED = ("alipay", "wechatpay", "unionpay", "facepay", "pos", "bank")  # the channels the retailer uses
CATCH_UP_ROUNDS_MAX = 20  # poll rounds at a day's end; each round takes what is due, up to the poller's batch
PAYOUT_ROUNDS_MAX = 10
PAYOUT_WAIT_S = 0.1  # the bank sandbox executes a file this long after it arrives
PAYOUT_POLL_S = 30.0  # the clock moved on between polls of a payout file: more than its poll delay


@dataclass
class DayEnd:
    day: date
    recon: dict[str, dict] = field(default_factory=dict)  # channel → summary, or {"error": code}
    settled_batches: int = 0
    reserve_ok: bool | None = None


def is_working_day(day: date) -> bool:
    try:
        return calendar.is_working_day(day)
    except calendar.CalendarError:  # beyond the published calendar: weekdays work
        return day.weekday() < 5


async def catch_up(ctx: PaymentsContext) -> None:
    """What the worker does between notifications: poll, expire, close."""
    for _ in range(CATCH_UP_ROUNDS_MAX):
        if await poll_due(ctx, utcnow()) + await poll_batches(ctx) == 0:
            return


async def close_day(ctx: PaymentsContext, day: date, later: Callable[[float], None]) -> DayEnd:
    """`later(s)` moves the clock on: the bank answers a payout file after a while."""
    end = DayEnd(day)
    for channel in RECONCILED:
        try:
            run, _made = await run_reconciliation(ctx, channel, day)
            end.recon[channel] = run.summary or {}
        except ReconRunError as error:
            end.recon[channel] = {"error": error.code, "detail": str(error)}
    if is_working_day(day):
        try:
            result = await ctx.db.run(run_settlement, ctx, day)
            end.settled_batches = sum(len(m.batch_ids) for m in result.merchants)
        except SettlementError as error:
            end.recon["settlement"] = {"error": error.code}
        await _pay_out(ctx, later)
    end.reserve_ok = await _prove_reserve(ctx, day)
    await ctx.db.run(Evaluator(ctx.db).run_if_due)
    await ctx.db.run(_housekeeping, ctx)
    return end


def _housekeeping(ctx: PaymentsContext) -> None:
    """The worker's sweep: lapsed holds voided, risk buckets no window reaches deleted (a month
    of them would slow every later decision)."""
    now = utcnow()
    with ctx.db.session() as session, session.begin():
        expire_holds(session.connection(), now)
        purge_risk_buckets(session, now)


async def _pay_out(ctx: PaymentsContext, later: Callable[[float], None]) -> None:
    """Send the day's payout files and follow them until the bank has answered."""
    for _ in range(PAYOUT_ROUNDS_MAX):
        if await poll_payouts(ctx) == 0:
            return
        later(PAYOUT_POLL_S)
        await asyncio.sleep(PAYOUT_WAIT_S)


async def _prove_reserve(ctx: PaymentsContext, day: date) -> bool | None:
    try:
        statement = await ctx.channels["bank"].download_statement(day)
    except ChannelError:
        return None
    return await ctx.db.run(_prove, ctx, day, statement)


def _prove(ctx: PaymentsContext, day: date, statement: bytes) -> bool | None:
    try:
        with ctx.db.session() as session, session.begin():
            return prove_reserve(session.connection(), day, statement).ok
    except ReserveError:
        return None
