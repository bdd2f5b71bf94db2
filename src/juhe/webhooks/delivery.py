"""The worker side of the outbox: claim due deliveries, POST them signed, record what happened.

No database lock is held across HTTP: a short transaction claims rows by moving their
`next_attempt_at` to the end of a lease (on PostgreSQL with FOR UPDATE SKIP LOCKED, so that
several workers share the queue), the requests run concurrently, and a second short
transaction records the results. The lease end doubles as a fencing token: a worker whose
lease ran out (and whose rows another worker took) does not overwrite their state.
Delivery is at least once; receivers deduplicate on `Juhe-Event-Id`.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy import insert, select, update

from juhe.db.engine import Database
from juhe.db.models import new_id
from juhe.db.types import utcnow
from juhe.safety.crashpoints import hit as crash_point
from juhe.webhooks import signing
from juhe.webhooks.endpoints import active_secrets
from juhe.webhooks.models import ATTEMPTS, DELIVERIES, ENDPOINTS, ERROR_LENGTH_MAX, EVENTS
from juhe.webhooks.outbox import event_body

CLAIM_MAX = 1_000
CONCURRENCY_MAX = 20
TIMEOUT_S = 10.0  # the whole request, connect to response headers
LEASE = timedelta(seconds=60)
# A request starts only if it can finish within the lease, with room left to record it.
SEND_DEADLINE_S = LEASE.total_seconds() - TIMEOUT_S - 5
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 6 * 3600
BACKOFF_DOUBLINGS_MAX = 20  # far past the cap; keeps 2**n small
JITTER_FRACTION = 0.10  # spreads retries of one outage so they do not arrive as one wave
USER_AGENT = "Juhe-Webhooks/1"

log = structlog.get_logger()
_jitter = random.Random()


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: uuid.UUID
    merchant_id: uuid.UUID
    event_id: uuid.UUID
    attempt: int  # the number of this attempt within the retry window, from 1
    url: str
    secrets: tuple[str, ...]
    body: bytes
    retry_until: datetime
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    sent: bool  # False: not started, the lease was too short; the delivery is released
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def deliver_due(db: Database, http: httpx.AsyncClient, now: datetime | None = None, limit: int = 200,
                      lease: timedelta = LEASE) -> int:
    """Send every delivery due at `now` (at most `limit`); returns how many were claimed. A
    shorter `lease` (JUHE_WEBHOOK_LEASE_S) shrinks the send deadline and the request timeout in
    proportion: rows a killed worker had claimed are due again sooner."""
    assert 1 <= limit <= CLAIM_MAX and lease > timedelta(0)
    now = now or utcnow()
    jobs = await asyncio.to_thread(claim_due, db, now, limit, lease)
    if not jobs:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY_MAX)
    started = time.monotonic()
    scale = lease / LEASE
    limits = (SEND_DEADLINE_S * scale, TIMEOUT_S * scale)
    outcomes = await asyncio.gather(*(_send(http, job, gate, now, started, *limits) for job in jobs))
    crash_point("webhook.sent")
    await asyncio.to_thread(record_outcomes, db, outcomes)
    return len(jobs)


def claim_due(db: Database, now: datetime, limit: int, lease: timedelta = LEASE) -> list[Job]:
    lease_until = now + lease
    with db.engine.begin() as conn:
        due = (
            select(DELIVERIES.c.id)
            .where(DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at <= now)
            .order_by(DELIVERIES.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(conn.scalars(due))
        if not ids:
            return []
        conn.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(ids)).values(next_attempt_at=lease_until))
        rows = conn.execute(
            select(
                DELIVERIES.c.id, DELIVERIES.c.merchant_id, DELIVERIES.c.attempts, DELIVERIES.c.retry_until,
                EVENTS.c.id.label("event_id"), EVENTS.c.type, EVENTS.c.created_at, EVENTS.c.payload,
                ENDPOINTS.c.url, ENDPOINTS.c.secret, ENDPOINTS.c.previous_secret, ENDPOINTS.c.previous_secret_expires_at,
            )
            .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
            .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
            .where(DELIVERIES.c.id.in_(ids))
        ).all()
    assert len(rows) == len(ids)
    return [
        Job(
            delivery_id=r.id, merchant_id=r.merchant_id, event_id=r.event_id, attempt=r.attempts + 1, url=r.url,
            secrets=tuple(active_secrets(r.secret, r.previous_secret, r.previous_secret_expires_at, now)),
            body=event_body(r.event_id, r.type, r.created_at, r.payload), retry_until=r.retry_until,
            lease_until=lease_until,
        )
        for r in rows
    ]


async def _send(http: httpx.AsyncClient, job: Job, gate: asyncio.Semaphore, now: datetime, started: float,
                deadline_s: float, timeout_s: float) -> Outcome:
    async with gate:
        elapsed_s = time.monotonic() - started
        attempted_at = now + timedelta(seconds=elapsed_s)
        if elapsed_s > deadline_s:
            return Outcome(job, sent=False, attempted_at=attempted_at)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.HEADER: signing.sign(job.secrets, job.body, int(attempted_at.timestamp())),
            "Juhe-Event-Id": str(job.event_id),
            "Juhe-Delivery-Attempt": str(job.attempt),
        }
        t0 = time.perf_counter()
        status_code, error = await _post(http, job.url, job.body, headers, timeout_s)
        duration_ms = round((time.perf_counter() - t0) * 1000)
        return Outcome(job, True, attempted_at, status_code, error, duration_ms)


async def _post(http: httpx.AsyncClient, url: str, body: bytes, headers: dict,
                timeout_s: float) -> tuple[int | None, str | None]:
    try:
        # The total bound keeps the lease arithmetic true even against a server that trickles bytes.
        async with asyncio.timeout(timeout_s):
            # Streamed and never read: the status is the answer, a huge body must not cost us.
            async with http.stream("POST", url, content=body, headers=headers, timeout=timeout_s) as response:
                status_code = response.status_code
    except TimeoutError:
        return None, f"timed out after {timeout_s:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        return None, _short(f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 -- one bad request must not lose the batch's results
        log.exception("webhook request failed unexpectedly", url=url)
        return None, _short(f"{type(e).__name__}: {e}")
    return status_code, None if 200 <= status_code < 300 else f"HTTP {status_code}"


def record_outcomes(db: Database, outcomes: list[Outcome]) -> None:
    with db.engine.begin() as conn:
        attempts = [_attempt_row(o) for o in outcomes if o.sent]
        if attempts:
            conn.execute(insert(ATTEMPTS), attempts)
        for o in outcomes:
            conn.execute(
                update(DELIVERIES)
                .where(
                    DELIVERIES.c.id == o.job.delivery_id, DELIVERIES.c.status == "pending",
                    DELIVERIES.c.next_attempt_at == o.job.lease_until,
                )
                .values(next_state(o, _jitter.uniform(-1, 1)))
            )


def next_state(outcome: Outcome, jitter: float) -> dict:
    """The delivery's new columns after `outcome`; `jitter` in [-1, 1] picks the spread."""
    job, at = outcome.job, outcome.attempted_at
    if not outcome.sent:
        return {"next_attempt_at": at}
    done = {"attempts": job.attempt, "last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.ok:
        return {**done, "status": "delivered", "delivered_at": at, "next_attempt_at": None}
    next_at = at + timedelta(seconds=backoff_s(job.attempt, jitter))
    if next_at > job.retry_until:
        return {**done, "status": "failed", "next_attempt_at": None}
    return {**done, "next_attempt_at": next_at}


def backoff_s(attempts: int, jitter: float) -> float:
    """Seconds to wait after `attempts` failed attempts: 30 s, 60 s, 120 s … capped at 6 h, ±10 %."""
    assert attempts >= 1 and -1 <= jitter <= 1
    base_s = min(BACKOFF_BASE_S * 2 ** min(attempts - 1, BACKOFF_DOUBLINGS_MAX), BACKOFF_CAP_S)
    return base_s * (1 + JITTER_FRACTION * jitter)


def _attempt_row(o: Outcome) -> dict:
    return {
        "id": new_id(), "merchant_id": o.job.merchant_id, "delivery_id": o.job.delivery_id,
        "attempted_at": o.attempted_at, "status_code": o.status_code, "error": o.error, "duration_ms": o.duration_ms,
    }


def _short(text: str) -> str:
    return text[:ERROR_LENGTH_MAX]
