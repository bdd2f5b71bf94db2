"""Outages the platform must ride out, each ending in the invariant checks of `juhe.safety.faults`.

- PostgreSQL restarted under load (stopped as a crash would, down a moment, started again): the
  requests meanwhile are answered 503 `database_unavailable` with Retry-After, as problem+json, and
  the same requests (same Idempotency-Key) succeed after.
- SQLite with a full disk or made read-only under load: 503 `storage_full` / `database_read_only`,
  nothing half-written, and the same requests succeed once it takes writes again.
- The merchant's webhook receiver down for an hour of simulated time: the outbox's retries catch
  up once it is back, every event delivered, none twice.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import event, func, select

from juhe.bench.stack import Receiver, Stack, StackOptions
from juhe.safety import faults

FAULT_AFTER_S = 1.0  # merchants pay this long before the fault, and after it until all is well
SQLITE_REFUSES_S = 2.0
SQLITE_REFUSES_MAX_S = 15.0
POSTGRES_DOWN_S = 1.0
RECEIVER_DOWN = timedelta(hours=1)
WORKER_STEP = timedelta(seconds=30)  # how often the simulated worker's round comes
CATCH_UP_MAX = timedelta(hours=3)  # after the outage: every retry's backoff (≤ 32 min by then) fits many times
SIMULATED_EVENTS = 120  # spread over the outage


@dataclass
class OutageRun:
    name: str
    tally: faults.Tally = field(default_factory=faults.Tally)
    checks: faults.Checks = field(default_factory=faults.Checks)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.checks.ok


def _stack_options(database_url: str | None = None) -> StackOptions:
    return StackOptions(in_process=True, database_url=database_url, poll_initial_s=0.5, worker_interval_s=0.1,
                        payment_ttl_s=faults.PAYMENT_TTL_S)


def _under_load(name: str, stack: Stack, fault, expected_codes: set[str], seed: int) -> OutageRun:
    """Merchants pay through `fault()`; then: every 5xx was a 503 problem+json of `expected_codes` with
    Retry-After, some came (the fault was felt), and the invariants hold once it is over."""
    started = time.monotonic()

    def felt() -> None:
        time.sleep(FAULT_AFTER_S)
        fault()
        time.sleep(FAULT_AFTER_S)

    result = OutageRun(name, faults.while_paying(stack, name, seed, felt))
    result.checks = faults.check(stack, result.tally)
    codes = set(result.tally.codes_5xx)
    r = result.checks.results
    r["5xx clear and retryable"] = (result.tally.unclear_5xx == 0 and codes <= expected_codes,
                                    f"{result.tally.unclear_5xx} unclear, codes {dict(result.tally.codes_5xx)}")
    r["the fault was felt"] = (bool(codes & expected_codes), f"5xx codes {dict(result.tally.codes_5xx)}")
    result.duration_s = time.monotonic() - started
    return result


def postgres_restart(seed: int = 2026, down_s: float = POSTGRES_DOWN_S) -> OutageRun:
    from juhe.db.temp_postgres import TempPostgres

    with faults.environment():
        server = TempPostgres()  # durable, as production runs it: a crash loses nothing committed
        try:
            with Stack(_stack_options(server.url)) as stack:
                return _under_load("postgres_restart", stack, lambda: server.restart(down_s),
                                   {"database_unavailable"}, seed)
        finally:
            server.stop()


SQLITE_REFUSALS = {"full": "storage_full", "read_only": "database_read_only"}


def sqlite_refusing(kinds: tuple[str, ...] = tuple(SQLITE_REFUSALS), seed: int = 2026) -> list[OutageRun]:
    """One after the other on one stack: "full", no page may be added to the file (SQLite's
    SQLITE_FULL, as a full disk gives it); "read_only", every connection refuses writes (as a
    read-only mount would)."""
    with faults.environment(), Stack(_stack_options()) as stack:
        return [_sqlite_refusing(stack, kind, seed) for kind in kinds]


def _sqlite_refusing(stack: Stack, kind: str, seed: int) -> OutageRun:
    engine = stack.db.engine

    def refuse(dbapi_connection, _record) -> None:
        if kind == "full":
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")
        else:
            dbapi_connection.execute("PRAGMA query_only = ON")

    def fault() -> None:
        refused_before = stack.metric("juhe_http_requests_total", status="503")
        event.listen(engine, "connect", refuse)
        engine.dispose()  # every connection from now on is opened anew, refusing
        time.sleep(SQLITE_REFUSES_S)
        # A file with free pages takes a few writes more before it is full: until a request met it.
        deadline = time.monotonic() + SQLITE_REFUSES_MAX_S
        while stack.metric("juhe_http_requests_total", status="503") == refused_before and time.monotonic() < deadline:
            time.sleep(0.1)
        event.remove(engine, "connect", refuse)
        engine.dispose()

    return _under_load(f"sqlite_{kind}", stack, fault, {SQLITE_REFUSALS[kind]}, seed)


# -- the merchant's receiver down for an hour of simulated time --------------------------------


def receiver_down(events: int = SIMULATED_EVENTS, down: timedelta = RECEIVER_DOWN) -> OutageRun:
    """Events written to the outbox through an hour in which the receiver answers 503; the worker's
    rounds every 30 s of simulated time; then until nothing is pending."""
    started = time.monotonic()
    result = OutageRun("receiver_down")
    receiver = Receiver()
    receiver.server.start()
    with faults.environment(), tempfile.TemporaryDirectory(prefix="juhe-receiver-down-") as folder:
        db, merchant_id = _merchant_database(Path(folder), receiver)
        try:
            t0 = datetime.now(timezone.utc)
            asyncio.run(_simulate(db, merchant_id, receiver, t0, events, down))
            _judge_deliveries(db, receiver, result)
        finally:
            db.dispose()
            receiver.stop()
    result.duration_s = time.monotonic() - started
    return result


def _merchant_database(folder: Path, receiver: Receiver) -> tuple:
    """A database with the demo merchants, the first one's endpoint at `receiver`."""
    from juhe.db.engine import Database
    from juhe.demo import seed_demo
    from juhe.webhooks.endpoints import create_endpoint

    db = Database(f"sqlite:///{folder / 'juhe.db'}")
    merchant_id = uuid.UUID(seed_demo(db, folder / "keys.json")["merchants"][0]["id"])
    with db.session() as session, session.begin():
        _, receiver.secret = create_endpoint(session, merchant_id, receiver.url, ["*"])
    return db, merchant_id


async def _simulate(db, merchant_id: uuid.UUID, receiver: Receiver, t0: datetime, events: int, down: timedelta) -> None:
    from juhe.http import async_client
    from juhe.webhooks.delivery import deliver_due

    http = async_client()
    gap = down / events
    now, written = t0, 0
    receiver.down = True
    try:
        while now < t0 + down + CATCH_UP_MAX:
            if written < events and now >= t0 + gap * written:  # a payment succeeds while the receiver is out
                await asyncio.to_thread(_write_event, db, merchant_id, written, now)
                written += 1
                continue
            receiver.down = now < t0 + down
            await deliver_due(db, http, now=now)
            if written == events and not receiver.down and await asyncio.to_thread(_pending, db) == 0:
                return
            now += WORKER_STEP
    finally:
        await http.aclose()


def _write_event(db, merchant_id: uuid.UUID, n: int, now: datetime) -> None:
    from juhe.webhooks.outbox import enqueue_event

    with db.session() as session, session.begin():
        enqueue_event(session, merchant_id, "payment.succeeded", {"id": f"pay_{n}", "status": "succeeded",
                                                                  "amount_minor": 100 + n}, now=now)


def _pending(db) -> int:
    from juhe.webhooks.models import DELIVERIES

    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(DELIVERIES).where(DELIVERIES.c.status == "pending"))


def _judge_deliveries(db, receiver: Receiver, result: OutageRun) -> None:
    from juhe.webhooks.models import DELIVERIES, EVENTS

    with db.reader() as session:
        statuses = Counter(dict(session.execute(select(DELIVERIES.c.status, func.count()).group_by(DELIVERIES.c.status)).all()))
        event_ids = {str(e) for e in session.scalars(select(EVENTS.c.id))}
    received = Counter(e.event_id for e in receiver.events)
    result.checks.deliveries = len(received)
    r = result.checks.results
    r["every webhook delivered"] = (statuses == Counter(delivered=len(event_ids)) and set(received) == event_ids,
                                    f"deliveries {dict(statuses)}, {len(event_ids - set(received))} of {len(event_ids)} never received")
    r["no event doubled"] = (receiver.deliveries == len(event_ids), f"{receiver.deliveries} accepted for {len(event_ids)} events")
    r["the outage was felt"] = (receiver.refused >= len(event_ids), f"{receiver.refused} deliveries refused while down")
