"""The day's books crashed and closed again, on the stack of `juhe.safety.faults`: reconciliation
killed after it proved what it could (`recon.proven`), settlement killed inside a batch
(`settlement.batch`), each then run twice — the two runs must leave the same books; and a
subscription's cycle killed between its invoice and its collection (`subscription.cycle`)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select

from juhe.bench.stack import Stack
from juhe.config import get_settings
from juhe.safety.faults import PLATFORM_TOKEN, REQUEST_TIMEOUT_S, CrashRun, Respawning

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")  # the business date of recon and settlement
SETTLEMENT_PROFILE = {"cycle": "T+0", "split_by": "merchant", "cutoff": "00:00",
                      "payout": {"name": "Lotus Mart Co Ltd", "account": "6222020200112233445", "bank": "102290024433"}}
BOOK_POINTS = ("recon.proven", "settlement.batch")
CYCLE_AHEAD = timedelta(days=32)  # the worker's clock this far on: a monthly subscription's next period is due


# -- reconciliation and settlement, crashed and run again ---------------------------------------


def book_points() -> tuple[str, ...]:
    """Settlement is run on working days only: on a weekend or holiday there is no batch to crash in."""
    from juhe.settlement import calendar

    return BOOK_POINTS if calendar.is_working_day(datetime.now(BUSINESS_ZONE).date()) else BOOK_POINTS[:1]


def books_closed(api: Respawning, run: CrashRun) -> dict[str, tuple[dict, dict]]:
    """Reconcile the day's Alipay statement and settle the day (T+0), each first crashed at its point
    and then run twice; per point, what the second and third runs left (they must be equal)."""
    stack = api.stack
    platform = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    day = datetime.now(BUSINESS_ZONE).date().isoformat()
    answer = httpx.put(f"{stack.api_url}/v1/settlements/profile", json=SETTLEMENT_PROFILE, headers=stack.key("finance"),
                       timeout=REQUEST_TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    recon = lambda: httpx.post(f"{stack.api_url}/v1/reconciliations", json={"channel": "alipay", "date": day},  # noqa: E731
                               headers=platform, timeout=REQUEST_TIMEOUT_S)
    settle = lambda: httpx.post(f"{stack.api_url}/v1/settlements/runs", json={"date": day},  # noqa: E731
                                headers=platform, timeout=REQUEST_TIMEOUT_S)
    outcomes = {}
    for point, call, books in zip(book_points(), (recon, settle), (_recon_books, _settlement_books)):
        run.points[point] = api.crash_at(point, lambda call=call: _quietly(call))
        run.kills += run.points[point]
        first = call()
        assert first.status_code in (200, 201), first.text
        after_first = books(stack)
        second = call()
        assert second.status_code in (200, 201), second.text
        outcomes[point] = (after_first, books(stack))
    return outcomes


def _quietly(call) -> None:
    try:
        call()
    except httpx.HTTPError:  # the process died under the request: what the crash point is for
        pass


def _recon_books(stack: Stack) -> dict:
    from juhe.recon.models import ReconCase, ReconItem, ReconRun

    with stack.db.reader() as session:
        return {"runs": [(r.channel, r.business_date.isoformat(), r.statement_sha256, r.summary)
                         for r in session.scalars(select(ReconRun).order_by(ReconRun.id))],
                "items": session.scalar(select(func.count()).select_from(ReconItem)),
                "cases": session.scalar(select(func.count()).select_from(ReconCase))}


def _settlement_books(stack: Stack) -> dict:
    from juhe.db.models import LedgerTransaction
    from juhe.settlement.models import SettlementBatch, SettlementItem, SettlementRun

    with stack.db.reader() as session:
        return {"runs": session.scalar(select(func.count()).select_from(SettlementRun)),
                "batches": sorted((str(b.id), b.net_minor) for b in session.scalars(select(SettlementBatch))),
                "items": session.scalar(select(func.count()).select_from(SettlementItem)),
                "ledger_transactions": session.scalar(select(func.count()).select_from(LedgerTransaction))}


# -- a subscription's cycle, crashed between its invoice and its collection -------------------------


def subscription_cycle(stack: Stack, run: CrashRun) -> tuple[bool, str]:
    """A monthly subscription collected on an Alipay agreement; the worker's clock run 32 days on in
    a process armed at `subscription.cycle` (dies after the next period's invoice is committed, before
    it is collected), then twice more unarmed: two invoices, each paid once by a payment of its own."""
    sub_id = _subscribe(stack)
    later = (datetime.now(timezone.utc) + CYCLE_AHEAD).isoformat()
    run.points["subscription.cycle"] = _clock_process(stack, later, "subscription.cycle") == -signal.SIGKILL
    run.kills += run.points["subscription.cycle"]
    assert _clock_process(stack, later, rounds=2) == 0, "the clock's rounds after the crash failed"
    rows = httpx.get(f"{stack.api_url}/v1/billing/invoices", params={"subscription_id": sub_id},
                     headers=stack.key("finance"), timeout=REQUEST_TIMEOUT_S).json()["data"]
    periods = {(i["period_start"], i["period_end"]) for i in rows}
    payments = {i["payment_id"] for i in rows}
    held = len(rows) == len(periods) == len(payments) == 2 and all(i["status"] == "paid" for i in rows)
    return held, f"invoices {[(i['status'], i['period_start'][:10], i['payment_id']) for i in rows]}"


def _subscribe(stack: Stack) -> str:
    def billing(path: str, body: dict) -> dict:
        answer = httpx.post(f"{stack.api_url}/v1/billing{path}", json=body, timeout=REQUEST_TIMEOUT_S,
                            headers=stack.key("business", idem=f"cycle-{path}-{time.monotonic_ns()}"))
        assert answer.status_code == 201, answer.text
        return answer.json()

    product = billing("/products", {"name": "Cloud POS"})
    billing("/plans", {"product_id": product["id"], "code": "basic", "pricing": {"model": "fixed", "unit_amount_minor": 9_900}})
    agreement = httpx.post(f"{stack.sandbox_urls['alipay']}/sandbox/agreements", timeout=REQUEST_TIMEOUT_S).json()
    signed = billing("/mandates", {"customer_id": "shop-7", "channel": "alipay", "agreement_no": agreement["agreement_no"]})
    sub = billing("/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": signed["id"]})
    return sub["id"]


def _clock_process(stack: Stack, at: str, arm: str | None = None, rounds: int = 1) -> int:
    """The worker's subscription rounds at `at`, with the servers' settings, in a process forked from
    this one (armed at `arm`: a fresh interpreter would spend seconds importing); -9 if it was killed."""
    from juhe.safety import crashpoints

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.environ.update(stack.server_env)
            if arm:
                os.environ[crashpoints.ENV] = arm
            crashpoints.rearm()
            get_settings.cache_clear()
            _clock_rounds(datetime.fromisoformat(at), rounds)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _clock_rounds(at: datetime, rounds: int) -> None:
    from juhe.db.engine import Database
    from juhe.runtime import Runtime
    from juhe.subscriptions.clock import run_clock

    settings = get_settings()
    runtime = Runtime(settings, Database(settings.database_url, migrate=False), host_sandboxes=False)

    async def main() -> None:
        try:
            for _ in range(rounds):
                await run_clock(runtime.payments, at)
        finally:
            await runtime.close()

    asyncio.run(main())
