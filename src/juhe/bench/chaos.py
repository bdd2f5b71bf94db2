"""`juhe chaos payments`: many QR payments through every channel while every sandbox injects
faults, then the invariants that must survive them.

1. A running stack (`juhe.bench.stack`) with a short payment expiry and fast polling, so that
   the run ends; every sandbox injects ≥ 5 % timeouts, ≥ 2 % 5xx, ≥ 10 % lost, ≥ 3 %
   duplicated and some out-of-order notifications (seeded).
2. `n` payments are created over HTTP, `concurrency` at once, spread over the channels with
   `preferred_channel` (routing may fail over elsewhere). The simulated payer pays each one
   that reached `processing`, at the channel and order the payment names: those the sandbox
   accepted are the payer-completed payments.
3. Wait until every payment (and every refund) is terminal, or until the last expiry + grace.
4. The figures:
   - success_rate: the share of payer-completed payments that ended `succeeded` (goal ≥ 99.5 %);
   - double_charges: payments with more than one order the channels show paid and not refunded
     in full (every attempt's order number, asked at its sandbox) — must be 0;
   - stuck: payments not terminal although their expiry + grace has passed — must be 0;
   - ledger_ok: `verify_ledger` proves the ledger.
   Beside them, for diagnosis: payments whose money the channel kept without success, successes
   the channel shows unpaid, our API's 5xx answers, orphan refunds, notification outcomes.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

from juhe.bench.report import track
from juhe.bench.stack import Stack, StackError, StackOptions, channels_for
from juhe.channels.simkit import Faults
from juhe.db.types import utcnow

DEFAULT_N = 10_000
DEFAULT_CONCURRENCY = 32
DEFAULT_SEED = 20_250_601
PAYMENT_TTL_S = 30  # below the API's 60 s minimum, through settings (JUHE_PAYMENT_TTL_S)
POLL_INITIAL_S = 0.5
WORKER_INTERVAL_S = 0.1
GRACE_S = 30.0
GOAL_SUCCESS_RATE = 0.995
FAULT_RATES = {
    "timeout_rate": 0.05, "error_5xx_rate": 0.02, "lost_notify_rate": 0.10,
    "duplicate_notify_rate": 0.03, "reorder_notify_rate": 0.05,
}
TERMINAL = ("succeeded", "failed", "canceled")
CREATE_RETRIES = 3  # a 5xx or a broken connection: the merchant asks again with the same key
EXAMPLES_MAX = 5
# An error line in the API's or worker's log: structlog's console and JSON renderers, uvicorn's own.
ERROR_MARKS = ("[error", '"level": "error"', "ERROR:")


class ChaosError(RuntimeError):
    """The chaos run could not run."""


@dataclass
class Created:
    index: int
    payment_id: str | None = None
    channel: str | None = None
    order_no: str | None = None
    status: str | None = None
    payer_completed: bool = False
    api_errors: int = 0


@dataclass
class ChaosResult:
    payments: int
    success_rate: float
    double_charges: int
    stuck: int
    ledger_ok: bool
    payer_completed: int = 0
    completed_succeeded: int = 0
    kept_without_success: int = 0
    succeeded_unpaid: int = 0
    api_errors: int = 0
    worker_failures: int | None = None  # errors the API process logged (worker rounds …); None: not counted
    loose_attempts: int = 0  # orders still "creating" or "abandoned" at the end
    orphan_refunds: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def figures(self) -> dict:
        return {"payments": self.payments, "success_rate": round(self.success_rate, 6),
                "double_charges": self.double_charges, "stuck": self.stuck, "ledger_ok": self.ledger_ok}

    @property
    def ok(self) -> bool:
        return (self.success_rate >= GOAL_SUCCESS_RATE and self.double_charges == 0 and self.stuck == 0
                and self.ledger_ok and not self.worker_failures)

    def table(self) -> Table:
        table = Table(title=f"Chaos: {self.payments:,} payments through every channel under faults "
                            f"({self.duration_s:,.0f} s)", title_justify="left")
        for column in ("figure", "value", "goal"):
            table.add_column(column, justify="right" if column == "value" else "left", no_wrap=True)

        def row(label: str, value: str, goal: str = "", met: bool | None = None) -> None:
            if met is not None:
                value = f"[green]{value} ✓[/green]" if met else f"[red]{value} ✗[/red]"
            table.add_row(label, value, goal)

        row("success rate (payer-completed)", f"{self.success_rate:.2%}", "≥ 99.5 %",
            self.success_rate >= GOAL_SUCCESS_RATE)
        row("  payer-completed, of them succeeded", f"{self.payer_completed:,}, {self.completed_succeeded:,}")
        row("double charges", f"{self.double_charges:,}", "0", self.double_charges == 0)
        row("stuck past expiry + grace", f"{self.stuck:,}", "0", self.stuck == 0)
        row("ledger verifies", "yes" if self.ledger_ok else "no", "yes", self.ledger_ok)
        row("paid, not succeeded, not refunded", f"{self.kept_without_success:,}", "0", self.kept_without_success == 0)
        row("succeeded, channel shows unpaid", f"{self.succeeded_unpaid:,}", "0", self.succeeded_unpaid == 0)
        row("API 5xx or broken requests", f"{self.api_errors:,}", "0", self.api_errors == 0)
        if self.worker_failures is not None:
            row("errors logged by API + worker", f"{self.worker_failures:,}", "0", self.worker_failures == 0)
        row("orders left creating/abandoned", f"{self.loose_attempts:,}", "0", self.loose_attempts == 0)
        row("orphan refunds (second orders paid)", f"{self.orphan_refunds:,}")
        return table

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if as_json:
            sys.stdout.write(json.dumps(self.figures()) + "\n")
            sys.stdout.flush()
            return
        console = console or Console()
        console.print(self.table())
        console.print("[dim]Payments by status: " + ", ".join(f"{s} {n:,}" for s, n in sorted(self.statuses.items())) + ".[/dim]")
        for note in self.notes:
            console.print(f"[dim]{escape(note)}[/dim]")


def run(
    *,
    n: int = DEFAULT_N,
    concurrency: int = DEFAULT_CONCURRENCY,
    seed: int = DEFAULT_SEED,
    database_url: str | None = None,
    payment_ttl_s: int = PAYMENT_TTL_S,
    poll_initial_s: float = POLL_INITIAL_S,
    grace_s: float = GRACE_S,
    faults: dict[str, float] | None = None,
    pay_at_once: bool = False,
    in_process: bool = False,
    progress: Progress | None = None,
) -> ChaosResult:
    if n < 1 or concurrency < 1:
        raise ChaosError("--n and --concurrency must be at least 1")
    channels = channels_for("qr")
    options = StackOptions(database_url=database_url, in_process=in_process, poll_initial_s=poll_initial_s,
                           worker_interval_s=WORKER_INTERVAL_S, payment_ttl_s=payment_ttl_s, channels=channels)
    rates = {**FAULT_RATES, **(faults or {})}
    started = time.monotonic()
    try:
        stack = Stack(options).start()
    except StackError as e:
        raise ChaosError(str(e)) from e
    try:
        auto_pay = {"auto_pay_after_ms": 0} if pay_at_once else {}
        for i, code in enumerate(channels):
            stack.set_faults(Faults(**rates, **auto_pay, seed=seed + i), channel=code)
        created = asyncio.run(_load(stack, channels, n, concurrency, seed, pay_at_once, progress))
        _wait_until_settled(stack, grace_s, progress)
        result = asyncio.run(_judge(stack, created, grace_s, pay_at_once))
        result.worker_failures = stack.log_count(ERROR_MARKS)
        database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(stack.db.dialect, stack.db.dialect)
    finally:
        stack.stop()
    result.duration_s = time.monotonic() - started
    result.notes.insert(0, f"QR payments spread over {', '.join(channels)}. Faults in every sandbox: {', '.join(f'{k} {v:g}' for k, v in rates.items())}; "
                           f"payment TTL {payment_ttl_s} s, first poll after {poll_initial_s:g} s, grace {grace_s:g} s; "
                           f"seed {seed}; {concurrency} at once; {database}"
                           + ("; the payer pays every order the moment it is booked (auto_pay_after_ms=0), "
                              "as at a paid-at-create channel (barcode, POS)." if pay_at_once else "."))
    return result


async def _load(stack: Stack, channels: tuple[str, ...], n: int, concurrency: int, seed: int, pay_at_once: bool,
                progress: Progress | None) -> list[Created]:
    rng = random.Random(seed)
    plan = [(rng.choice(channels), rng.randint(1, 100_000)) for _ in range(n)]  # ¥0.01 – ¥1,000.00
    advance = track(progress, "payments created and paid", n)
    results = [Created(i) for i in range(n)]
    numbers = iter(range(n))
    headers = stack.key("business")
    limits = httpx.Limits(max_connections=2 * concurrency, max_keepalive_connections=2 * concurrency)
    async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=120) as client:

        async def create(i: int, result: Created) -> dict | None:
            channel, amount = plan[i]
            body = {"amount_minor": amount, "currency": "CNY", "scenario": "qr", "subject": f"Chaos order {i}",
                    "preferred_channel": channel}
            for _ in range(CREATE_RETRIES):
                try:
                    answer = await client.post("/v1/payments", json=body,
                                               headers={**headers, "Idempotency-Key": f"chaos-{seed}-{i}"})
                except httpx.HTTPError:
                    result.api_errors += 1
                    continue
                if answer.status_code in (200, 201):
                    return answer.json()
                result.api_errors += 1
                if answer.status_code < 500:
                    return None
            return None

        async def payer() -> None:
            for i in numbers:
                result = results[i]
                payment = await create(i, result)
                if payment is not None:
                    result.payment_id, result.status = payment["id"], payment["status"]
                    result.channel, result.order_no = payment["channel"], payment["channel_order_no"]
                    if payment["status"] == "processing" and not pay_at_once:
                        answer = await client.post(f"{stack.sandbox_urls[result.channel]}/sandbox/pay/{result.order_no}",
                                                   json={"outcome": "success"})
                        result.payer_completed = answer.status_code == 200 and answer.json()["state"] == "succeeded"
                advance(1)

        await asyncio.gather(*(payer() for _ in range(concurrency)))
    return results


def _wait_until_settled(stack: Stack, grace_s: float, progress: Progress | None) -> None:
    """Until every payment and refund is terminal and every abandoned order closed, or the last
    expiry + grace has passed."""
    from juhe.payments.models import Payment, PaymentAttempt, Refund

    with stack.db.session() as session:
        total = session.scalar(select(func.count()).select_from(Payment))
        last_expiry = session.scalar(select(func.max(Payment.expires_at)))
    if not total:
        return
    bar = progress.add_task("payments terminal", total=total) if progress is not None else None
    deadline = last_expiry + timedelta(seconds=grace_s)
    while True:
        with stack.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            open_payments = conn.scalar(select(func.count()).select_from(Payment).where(Payment.status.not_in(TERMINAL)))
            open_refunds = conn.scalar(select(func.count()).select_from(Refund).where(Refund.status == "pending"))
            loose = conn.scalar(select(func.count()).select_from(PaymentAttempt)
                                .where(PaymentAttempt.status.in_(("creating", "abandoned"))))
        if bar is not None:
            progress.update(bar, completed=total - open_payments)
        if (open_payments == 0 and open_refunds == 0 and loose == 0) or utcnow() > deadline:
            return
        time.sleep(0.25)


async def _judge(stack: Stack, created: list[Created], grace_s: float, pay_at_once: bool) -> ChaosResult:
    from juhe.ledger import verify_ledger
    from juhe.payments.models import ChannelNotification, Payment, PaymentAttempt, Refund

    now = utcnow()
    with stack.db.session() as session:
        payments = {str(p.id): p for p in session.scalars(select(Payment))}
        attempts = list(session.scalars(select(PaymentAttempt)))
        orphan_refunds = session.scalar(select(func.count()).select_from(Refund).where(Refund.idempotency_key.like("orphan:%")))
        notifications = Counter(dict(session.execute(
            select(ChannelNotification.outcome, func.count()).group_by(ChannelNotification.outcome)).all()))
    with stack.db.engine.connect().execution_options(sqlite_read_only=True) as conn, conn.begin():
        ledger = verify_ledger(conn)

    # What the channels say: every order we ever sent, asked at its sandbox.
    paid_orders: Counter[str] = Counter()  # paid and not refunded in full
    paid_ever: set[str] = set()
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=30) as client:

        async def ask(attempt) -> None:
            async with gate:
                answer = await client.get(f"{stack.sandbox_urls[attempt.channel]}/sandbox/orders/{attempt.order_no}")
            if answer.status_code == 404:
                return
            order = answer.raise_for_status().json()
            refunded = sum(r["amount_minor"] for r in order["refunds"].values() if r["state"] == "succeeded")
            if order["state"] == "succeeded":
                paid_ever.add(str(attempt.payment_id))
                if refunded < order["amount_minor"]:
                    paid_orders[str(attempt.payment_id)] += 1

        await asyncio.gather(*(ask(a) for a in attempts))

    statuses = Counter(p.status for p in payments.values())
    if pay_at_once:  # the payer paid whatever the channel booked: completed is what a channel took
        for c in created:
            c.payer_completed = c.payment_id in paid_ever
    completed = [c for c in created if c.payer_completed]
    completed_ok = [c for c in completed if payments[c.payment_id].status == "succeeded"]
    stuck = [p for p in payments.values()
             if p.status not in TERMINAL and p.expires_at + timedelta(seconds=grace_s) < now]
    double = [pid for pid, count in paid_orders.items() if count > 1]
    kept = [pid for pid, count in paid_orders.items() if count >= 1 and payments[pid].status != "succeeded"]
    unpaid = [pid for pid, p in payments.items() if p.status == "succeeded" and paid_orders[pid] == 0]
    result = ChaosResult(
        payments=len(payments), success_rate=len(completed_ok) / len(completed) if completed else 0.0,
        double_charges=len(double), stuck=len(stuck), ledger_ok=ledger.ok, payer_completed=len(completed),
        completed_succeeded=len(completed_ok), kept_without_success=len(kept), succeeded_unpaid=len(unpaid),
        api_errors=sum(c.api_errors for c in created), statuses=dict(statuses), orphan_refunds=orphan_refunds,
        loose_attempts=sum(a.status in ("creating", "abandoned") for a in attempts),
    )
    result.notes.append(f"Channel notifications by outcome: {', '.join(f'{k} {v:,}' for k, v in sorted(notifications.items()))}.")
    if not ledger.ok:
        result.notes.append("Ledger problems: " + "; ".join(ledger.problems[:EXAMPLES_MAX]))
    failed_completed = [c.payment_id for c in completed if payments[c.payment_id].status != "succeeded"]
    for label, ids in (("payer-completed, not succeeded", failed_completed), ("double charge", double),
                       ("money kept without success", kept), ("succeeded, channel shows no money", unpaid),
                       ("stuck", [str(p.id) for p in stuck])):
        if ids:
            result.notes.append(f"{label}: {len(ids)}, e.g. " + "; ".join(_story(stack, pid) for pid in ids[:EXAMPLES_MAX]))
    return result


def _story(stack: Stack, payment_id: str) -> str:
    """One payment's timeline and attempts, for the notes."""
    import uuid

    from juhe.payments.models import Payment, PaymentAttempt, PaymentEvent

    pid = uuid.UUID(payment_id)
    with stack.db.session() as session:
        payment = session.get(Payment, pid)
        events = session.scalars(select(PaymentEvent).where(PaymentEvent.payment_id == pid).order_by(PaymentEvent.id))
        attempts = session.scalars(select(PaymentAttempt).where(PaymentAttempt.payment_id == pid)
                                   .order_by(PaymentAttempt.created_at))
        timeline = " → ".join(f"{e.to_status} ({e.cause})" for e in events)
        tried = ", ".join(f"{a.channel} {a.order_no[-6:]} {a.status}" for a in attempts)
        return f"{payment_id} [{payment.status}: {timeline}; attempts: {tried}]"
