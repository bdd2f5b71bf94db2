"""`juhe bench payments`: complete payments per second over HTTP on SQLite and on PostgreSQL
(with 1 and 2 API processes), beside a baseline measured in the same run: a bare endpoint doing
one INSERT + commit through the same stack (`juhe.bench.baseline`), the ceiling of this machine
for a request that writes.

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

Baseline: `POST /bench/insert` at the same concurrency, as many requests as payments (at least
500). The ratio is payments/s over baseline requests/s. Beside the rates: durable commits per
payment (`juhe_db_commits_total` of every server process, webhook delivery included) and
event-loop stalls over 50 ms of the loop's own work (`juhe_event_loop_stalls_total`) during the measured payments.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select

from rich.table import Table

from juhe.bench import baseline
from juhe.bench.report import printed_json, track
from juhe.bench.stack import THROWAWAY_POSTGRES, Stack, StackError, StackOptions, WebhookEvent, channels_for
from juhe.channels.simkit import Faults
from juhe.loop_lag import STALL_S

DEFAULT_PAYMENTS = 2_000
DEFAULT_CONCURRENCY = 16
AIM_PAYMENTS_PER_S = 200  # on 2 cores, from the issue
AIM_P99_MS = 150
AIM_RATIO = 0.3
AIM_COMMITS = 3
DATABASES = ("sqlite", "postgresql")
POSTGRES_API_PROCESSES = (1, 2)
BASELINE_MIN = 500
PAYMENT_TIMEOUT_S = 30.0  # a payment not complete by then is counted incomplete
WORKER_INTERVAL_S = 0.02  # the worker's idle sleep between rounds (outbox → webhook pick-up)
AMOUNT_MINOR = 1288


class BenchError(RuntimeError):
    """The benchmark could not run, or payments did not complete."""


@dataclass
class PaymentsResult:
    """One run: one database, one layout of API processes."""

    payments: int
    concurrency: int
    database: str
    payments_per_s: float
    baseline_per_s: float
    latencies_ms: list[float]
    api_processes: int = 1
    commits: float = 0.0  # durable commits during the measured payments, every server process
    loop_stalls: int = 0  # wake-ups later than loop_lag.STALL_S while the loop thread ran longer than it
    incomplete: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        rate, baseline = round(self.payments_per_s, 1), round(self.baseline_per_s, 1)
        return round(rate / baseline, 4) if baseline > 0 else 0.0

    @property
    def commits_per_payment(self) -> float:
        return round(self.commits / self.payments, 2)

    def percentile_ms(self, q: float) -> float:
        return round(percentile(self.latencies_ms, q), 1)

    def figures(self) -> dict[str, float]:
        return {"payments_per_s": round(self.payments_per_s, 1), "baseline_per_s": round(self.baseline_per_s, 1),
                "ratio": self.ratio, "p50_ms": self.percentile_ms(50), "p95_ms": self.percentile_ms(95),
                "p99_ms": self.percentile_ms(99), "commits_per_payment": self.commits_per_payment,
                "api_processes": self.api_processes, "loop_stalls": self.loop_stalls}


@dataclass
class PaymentsSuite:
    """The runs of one `juhe bench payments`: SQLite, and PostgreSQL with 1 and 2 API processes."""

    runs: list[PaymentsResult]

    def figures(self) -> dict[str, dict]:
        """{"sqlite": {...}, "postgresql": {...}}: per database its run with the most API
        processes; the others of that database under "by_api_processes"."""
        out: dict[str, dict] = {}
        for key in dict.fromkeys(_database_key(run.database) for run in self.runs):
            runs = sorted((run for run in self.runs if _database_key(run.database) == key), key=lambda r: r.api_processes)
            out[key] = runs[-1].figures()
            if len(runs) > 1:
                out[key]["by_api_processes"] = {str(run.api_processes): run.figures() for run in runs}
        return out

    def table(self) -> Table:
        table = Table(title="Complete payments over HTTP vs. a bare INSERT + commit endpoint on the same server",
                      title_justify="left")
        for heading in ("database", "API processes", "payments", "per s", "baseline per s", "ratio", "p50 ms",
                        "p95 ms", "p99 ms", "commits / payment", "loop stalls"):
            table.add_column(heading, justify="left" if heading == "database" else "right", no_wrap=True)
        for run in self.runs:
            f = run.figures()
            table.add_row(run.database, str(run.api_processes), f"{run.payments:,}",
                          _marked(f"{f['payments_per_s']:,.0f}", f["payments_per_s"] >= AIM_PAYMENTS_PER_S),
                          f"{f['baseline_per_s']:,.0f}", _marked(f"{f['ratio']:.2f}", f["ratio"] >= AIM_RATIO),
                          f"{f['p50_ms']:,.1f}", f"{f['p95_ms']:,.1f}", _marked(f"{f['p99_ms']:,.1f}", f["p99_ms"] <= AIM_P99_MS),
                          _marked(f"{f['commits_per_payment']:.2f}", f["commits_per_payment"] <= AIM_COMMITS),
                          _marked(str(run.loop_stalls), run.loop_stalls == 0))
        return table

    def print(self, *, as_json: bool = False, console: Console | None = None) -> None:
        if printed_json(self.figures(), as_json):
            return
        console = console or Console()
        console.print(self.table())
        console.print(f"[dim]Aims (✓ met, ✗ missed): ≥ {AIM_PAYMENTS_PER_S}/s, ratio ≥ {AIM_RATIO:g}, p99 ≤ {AIM_P99_MS} ms, "
                      f"≤ {AIM_COMMITS} commits per payment, no event-loop stall > {STALL_S * 1000:g} ms. Latency: create "
                      f"request → signed payment.succeeded at the receiver. Commits: transactions that wrote, in every "
                      f"server process (API and worker: webhook delivery included).[/dim]")
        for run in self.runs:
            for note in run.notes:
                console.print(f"[dim]{run.database}, {run.api_processes} API process(es): {note}[/dim]")


def _marked(text: str, met: bool) -> str:
    return f"[green]{text} ✓[/green]" if met else f"[red]{text} ✗[/red]"


def _database_key(label: str) -> str:
    return label.lower()


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


def run(*, only: str | None = None, postgres_url: str | None = None,
        api_processes: tuple[int, ...] = POSTGRES_API_PROCESSES, progress: Progress | None = None,
        **options) -> PaymentsSuite:
    """SQLite with one API process, PostgreSQL with each of `api_processes` (a throwaway server
    per run unless `postgres_url` is given)."""
    if only is not None and only not in DATABASES:
        raise BenchError(f"--only must be one of {', '.join(DATABASES)}, not {only!r}")
    if not api_processes or min(api_processes) < 1:
        raise BenchError("--api-processes must list numbers of at least 1, e.g. 1,2")
    plan = [] if only == "postgresql" else [(None, 1)]
    if only != "sqlite":
        plan += [(postgres_url or THROWAWAY_POSTGRES, n) for n in api_processes]
    return PaymentsSuite([run_one(database_url=url, api_processes=n, progress=progress, **options) for url, n in plan])


def run_one(
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

        async def insert_baseline(count: int, advance) -> float:
            numbers = iter(range(count))
            body = {"amount_minor": AMOUNT_MINOR, "currency": "CNY", "scenario": "qr", "subject": "Bench tea"}

            async def caller() -> None:
                for _ in numbers:
                    answer = await client.post(baseline.PATH, json=body)
                    answer.raise_for_status()
                    advance(1)

            started = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            return count / (time.perf_counter() - started)

        warmup = 2 * concurrency
        await payers(warmup, f"warm-{run_id}", track(progress, "warm-up payments", warmup))
        baseline_count = max(BASELINE_MIN, payments)
        baseline_rps = await insert_baseline(baseline_count, track(progress, "baseline INSERT + commit", baseline_count))
        await _settled(stack)
        cpu_before, before = stack.cpu_seconds(), _counters(stack)
        latencies, incomplete, elapsed_s = await payers(payments, f"bench-{run_id}",
                                                        track(progress, "complete payments", payments))
        await _settled(stack)  # the last payments' webhook deliveries are marked done
        cpu_after, after = stack.cpu_seconds(), _counters(stack)
    if incomplete:
        tail = stack.log_tail("api") if not stack.options.in_process else ""
        raise BenchError(f"{incomplete} of {payments} payments got no payment.succeeded within {PAYMENT_TIMEOUT_S:g} s"
                         + (f"; API log: {tail}" if tail else ""))
    result = PaymentsResult(payments, concurrency, _database_label(stack), payments / elapsed_s, baseline_rps, latencies,
                            api_processes=stack.options.api_processes, commits=after[0] - before[0],
                            loop_stalls=round(after[1] - before[1]))
    result.notes.extend(await asyncio.to_thread(_checks, stack, completions, warmup + payments))
    result.notes.append(_cpu_note(cpu_before, cpu_after, payments, elapsed_s))
    result.notes.append(f"Channels {', '.join(channels)} (QR, round-robin); sandbox fault auto_pay_after_ms=0; "
                        f"worker interval {stack.options.worker_interval_s:g} s; "
                        + ("API, worker and sandboxes in this process." if stack.options.in_process else
                           f"{_api_layout(stack.options.api_processes)}, each sandbox, and this load generator + "
                           f"webhook receiver in separate processes."))
    return result


def _counters(stack: Stack) -> tuple[float, float]:
    """(durable commits so far, event-loop stalls so far) over every server process."""
    samples = stack.metrics()
    return stack.metric("juhe_db_commits_total", samples), stack.metric("juhe_event_loop_stalls_total", samples)


async def _settled(stack: Stack, quiet_s: float = 0.3, timeout_s: float = 10.0) -> None:
    """Wait until the servers stop committing (the worker's last deliveries, the warm-up's tail)."""
    deadline = time.monotonic() + timeout_s
    last = stack.metric("juhe_db_commits_total")
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = stack.metric("juhe_db_commits_total")
        if now == last:
            return
        last = now


def _checks(stack: Stack, completions: Completions, expected: int) -> list[str]:
    """After the run: the ledger proves, and every payment created succeeded exactly once."""
    from juhe.ledger import verify_database
    from juhe.payments.models import Payment, Refund

    ledger = verify_database(stack.db.engine)
    with stack.db.engine.connect().execution_options(sqlite_read_only=True) as conn, conn.begin():
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
