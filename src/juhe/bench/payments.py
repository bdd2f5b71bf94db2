"""`juhe bench payments`: complete payments per second over HTTP, beside a baseline of a
trivial endpoint (`GET /healthz`) of the same server measured in the same run.

A payment is complete when the merchant's webhook receiver got its signed
`payment.succeeded`: create (`POST /v1/payments`) → the channel's sandbox books the order →
the simulated payer pays at once (sandbox fault `auto_pay_after_ms=0`) → the sandbox's signed
notification → ledger posting → outbox → webhook. Latency is measured from the start of the
create request to the webhook's arrival.

Layout (see `juhe.bench.stack`): the API with its worker in one process, each channel's sandbox
in its own process, and the load generator with the webhook receiver in this one. `concurrency`
payers run at once, each starting its next payment when the previous one's webhook came.
Payments go round-robin over the channels (QR scenario). Before measuring, a warm-up of
`2 × concurrency` payments (not counted) opens connections and fills caches.

Baseline: `GET /healthz` at the same concurrency, as many requests as payments (at least 500).
The ratio is payments/s over baseline requests/s: the share of the server's plain HTTP
capacity that a complete payment gets.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
import uuid
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select

from juhe.bench.report import Comparison, Report, track
from juhe.bench.stack import Stack, StackError, StackOptions, WebhookEvent, channels_for
from juhe.channels.simkit import Faults

DEFAULT_PAYMENTS = 2_000
DEFAULT_CONCURRENCY = 16
AIM_PAYMENTS_PER_S = 200  # on 2 cores, from the issue
AIM_P99_MS = 150
BASELINE_MIN = 500
PAYMENT_TIMEOUT_S = 30.0  # a payment not complete by then is counted incomplete
WORKER_INTERVAL_S = 0.02  # the worker's idle sleep between rounds (outbox → webhook pick-up)
AMOUNT_MINOR = 1288


class BenchError(RuntimeError):
    """The benchmark could not run, or payments did not complete."""


@dataclass
class PaymentsResult:
    payments: int
    concurrency: int
    database: str
    payments_per_s: float
    baseline_rps: float
    latencies_ms: list[float]
    incomplete: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def comparison(self) -> Comparison:
        return Comparison("payments", "payments", f"complete payments, {self.concurrency} at once", self.payments,
                          self.payments_per_s, self.baseline_rps, group_label="HTTP", unit="per_s",
                          unit_label="per s", aim_rate=AIM_PAYMENTS_PER_S)

    def percentile_ms(self, q: float) -> float:
        return round(percentile(self.latencies_ms, q), 1)

    def figures(self) -> dict[str, float]:
        rate, baseline, ratio = self.comparison.rounded
        return {"payments_per_s": rate, "baseline_rps": baseline, "ratio": ratio,
                "p50_ms": self.percentile_ms(50), "p99_ms": self.percentile_ms(99)}

    def report(self) -> Report:
        report = Report(f"Complete payments over HTTP vs. GET /healthz on the same server ({self.database})")
        report.add(self.comparison)
        p50, p99 = self.percentile_ms(50), self.percentile_ms(99)
        mark = "✓" if p99 <= AIM_P99_MS else "✗"
        report.notes.append(f"Latency, create request → signed payment.succeeded at the receiver: p50 {p50:,.1f} ms, "
                            f"p99 {p99:,.1f} ms (aim ≤ {AIM_P99_MS} ms {mark}), max {max(self.latencies_ms, default=0):,.1f} ms.")
        report.notes.extend(self.notes)
        return report

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if as_json:
            sys.stdout.write(json.dumps(self.figures()) + "\n")
            sys.stdout.flush()
            return
        self.report().print(console=console)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (no interpolation): a value that was measured."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n × q / 100)
    return ordered[int(rank) - 1]


class Completions:
    """Hands webhook arrivals (receiver thread) to the payers waiting for them (event loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.arrived: dict[str, float] = {}
        self.waiting: dict[str, asyncio.Future] = {}
        self.other_events: dict[str, int] = {}

    def on_event(self, event: WebhookEvent) -> None:  # receiver thread
        self.loop.call_soon_threadsafe(self._arrive, event)

    def _arrive(self, event: WebhookEvent) -> None:
        if event.type != "payment.succeeded" or not event.verified:
            key = event.type if event.verified else f"{event.type} (signature did not verify)"
            self.other_events[key] = self.other_events.get(key, 0) + 1
            return
        self.arrived.setdefault(event.object_id, event.received_at)
        future = self.waiting.pop(event.object_id, None)
        if future is not None and not future.done():
            future.set_result(event.received_at)

    async def wait(self, payment_id: str, timeout_s: float) -> float | None:
        if payment_id in self.arrived:
            return self.arrived[payment_id]
        future = self.loop.create_future()
        self.waiting[payment_id] = future
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self.waiting.pop(payment_id, None)


def run(
    *,
    payments: int = DEFAULT_PAYMENTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    database_url: str | None = None,
    channels: tuple[str, ...] | None = None,
    worker_interval_s: float = WORKER_INTERVAL_S,
    api_processes: int = 1,
    in_process: bool = False,
    progress: Progress | None = None,
) -> PaymentsResult:
    if payments < 1 or concurrency < 1:
        raise BenchError("--payments and --concurrency must be at least 1")
    qr_channels = channels_for("qr")
    channels = channels or qr_channels
    unknown = set(channels) - set(qr_channels)
    if unknown:
        raise BenchError(f"no QR payments through {', '.join(sorted(unknown))}; channels: {', '.join(qr_channels)}")
    holder: dict = {}
    options = StackOptions(database_url=database_url, in_process=in_process, worker_interval_s=worker_interval_s,
                           poll_initial_s=5.0, api_processes=api_processes, channels=channels)
    try:
        stack = Stack(options, on_event=lambda event: holder["completions"].on_event(event)).start()
    except StackError as e:
        raise BenchError(str(e)) from e
    try:
        stack.set_faults(Faults(auto_pay_after_ms=0))
        return asyncio.run(_measure(stack, holder, payments, concurrency, channels, progress))
    finally:
        stack.stop()


async def _measure(stack: Stack, holder: dict, payments: int, concurrency: int, channels: tuple[str, ...],
                   progress: Progress | None) -> PaymentsResult:
    completions = holder["completions"] = Completions(asyncio.get_running_loop())
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=60) as client:
        headers = stack.key("business")
        run_id = uuid.uuid4().hex[:8]
        channel_cycle = itertools.cycle(channels)

        async def one_payment(i: int, prefix: str) -> float | None:
            body = {"amount_minor": AMOUNT_MINOR, "currency": "CNY", "scenario": "qr", "subject": "Bench tea",
                    "preferred_channel": next(channel_cycle)}
            started = time.perf_counter()
            answer = await client.post("/v1/payments", json=body, headers={**headers, "Idempotency-Key": f"{prefix}-{i}"})
            if answer.status_code != 201 or answer.json()["status"] not in ("processing", "succeeded"):
                raise BenchError(f"payment {i} was not created: {answer.status_code} {answer.text[:300]}")
            arrived = await completions.wait(answer.json()["id"], PAYMENT_TIMEOUT_S)
            return None if arrived is None else (arrived - started) * 1000

        async def payers(count: int, prefix: str, advance) -> tuple[list[float], int, float]:
            latencies: list[float] = []
            incomplete = 0
            numbers = iter(range(count))

            async def payer() -> None:
                nonlocal incomplete
                for i in numbers:
                    latency = await one_payment(i, prefix)
                    if latency is None:
                        incomplete += 1
                    else:
                        latencies.append(latency)
                    advance(1)

            started = time.perf_counter()
            await asyncio.gather(*(payer() for _ in range(min(concurrency, count))))
            return latencies, incomplete, time.perf_counter() - started

        async def baseline(count: int, advance) -> float:
            numbers = iter(range(count))

            async def caller() -> None:
                for _ in numbers:
                    answer = await client.get("/healthz")
                    answer.raise_for_status()
                    advance(1)

            started = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            return count / (time.perf_counter() - started)

        warmup = 2 * concurrency
        await payers(warmup, f"warm-{run_id}", track(progress, "warm-up payments", warmup))
        baseline_count = max(BASELINE_MIN, payments)
        baseline_rps = await baseline(baseline_count, track(progress, "baseline GET /healthz", baseline_count))
        cpu_before = stack.cpu_seconds()
        latencies, incomplete, elapsed_s = await payers(payments, f"bench-{run_id}",
                                                        track(progress, "complete payments", payments))
        cpu_after = stack.cpu_seconds()
    if incomplete:
        tail = stack.log_tail("api") if not stack.options.in_process else ""
        raise BenchError(f"{incomplete} of {payments} payments got no payment.succeeded within {PAYMENT_TIMEOUT_S:g} s"
                         + (f"; API log: {tail}" if tail else ""))
    result = PaymentsResult(payments, concurrency, _database_label(stack), payments / elapsed_s, baseline_rps, latencies)
    result.notes.extend(_checks(stack, completions, warmup + payments))
    result.notes.append(_cpu_note(cpu_before, cpu_after, payments, elapsed_s))
    result.notes.append(f"Channels {', '.join(channels)} (QR, round-robin); sandbox fault auto_pay_after_ms=0; "
                        f"worker interval {stack.options.worker_interval_s:g} s; "
                        + ("API, worker and sandboxes in this process." if stack.options.in_process else
                           f"{_api_layout(stack.options.api_processes)}, each sandbox, and this load generator + "
                           f"webhook receiver in separate processes."))
    return result


def _checks(stack: Stack, completions: Completions, expected: int) -> list[str]:
    """After the run: the ledger proves, and every payment created succeeded exactly once."""
    from juhe.ledger import verify_ledger
    from juhe.payments.models import Payment, Refund

    with stack.db.engine.connect().execution_options(sqlite_read_only=True) as conn, conn.begin():
        ledger = verify_ledger(conn)
        statuses = dict(conn.execute(select(Payment.status, func.count()).group_by(Payment.status)).all())
        refunds = conn.scalar(select(func.count()).select_from(Refund))
    if not ledger.ok:
        raise BenchError(f"the ledger does not verify after the run: {'; '.join(ledger.problems[:5])}")
    notes = [f"After the run: ledger verifies ({ledger.transactions:,} transactions); payments by status: "
             + ", ".join(f"{s} {n:,}" for s, n in sorted(statuses.items()))]
    if statuses.get("succeeded", 0) != expected or refunds:
        notes.append(f"[red]Expected {expected:,} succeeded payments and no refunds; found {refunds:,} refund(s).[/red]")
    if completions.other_events:
        notes.append("Other webhook events: " + ", ".join(f"{k} {v:,}" for k, v in sorted(completions.other_events.items())))
    return notes


def _cpu_note(before: dict[str, float], after: dict[str, float], payments: int, elapsed_s: float) -> str:
    """CPU time per complete payment, by process: where the cores went."""
    groups: dict[str, float] = {}
    for name, seconds in after.items():
        group = "sandboxes" if name.startswith("sandbox-") else name
        groups[group] = groups.get(group, 0.0) + seconds - before.get(name, 0.0)
    total = sum(groups.values())
    parts = ", ".join(f"{name} {seconds * 1000 / payments:.1f}" for name, seconds in groups.items())
    return (f"CPU per complete payment: {total * 1000 / payments:.1f} ms ({parts}); "
            f"{total / elapsed_s:.2f} cores busy on average.")


def _api_layout(processes: int) -> str:
    return "API + worker" if processes == 1 else f"{processes} API processes, a worker"


def _database_label(stack: Stack) -> str:
    dialect = stack.db.dialect
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(dialect, dialect)
