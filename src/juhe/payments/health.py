"""Live channel health: a sliding window of outcomes and a circuit breaker.

Each process records its own channel calls at once, in memory (routing reads it on every
payment). Every few seconds `share` writes this process's window to the database and reads the
other processes' recent reports, so that with N API processes each routes on what all of them
saw: a channel failing in one process is avoided by all within `SHARE_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from juhe.db.types import utcnow

log = structlog.get_logger()
WINDOW_SIZE = 200
PRIOR_SUCCESSES = 19  # a channel with no history counts as 95 % successful (19 of 20)
PRIOR_TOTAL = 20
BREAKER_FAILURES = 5  # consecutive failures that open the circuit
BREAKER_COOLDOWN_S = 10.0
SHARE_EVERY_S = 2.0
REPORT_FRESH_S = 30.0  # a process silent for longer has stopped: its report no longer counts


@dataclass(frozen=True, slots=True)
class HealthView:
    success_rate: float  # share of recent channel calls that worked, smoothed by the prior
    samples: int
    circuit_open: bool


@dataclass(frozen=True, slots=True)
class _Others:
    successes: int
    calls: int
    open_until: datetime | None


class ChannelHealth:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._outcomes: dict[str, deque[bool]] = {}
        self._consecutive_failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}
        self._others: dict[str, _Others] = {}
        self._lock = threading.Lock()
        self.process_id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def record(self, channel: str, ok: bool) -> None:
        with self._lock:
            self._outcomes.setdefault(channel, deque(maxlen=WINDOW_SIZE)).append(ok)
            failures = 0 if ok else self._consecutive_failures.get(channel, 0) + 1
            self._consecutive_failures[channel] = failures
            if failures >= BREAKER_FAILURES:
                self._open_until[channel] = self._clock() + BREAKER_COOLDOWN_S
            elif ok:
                self._open_until.pop(channel, None)

    def view(self, channel: str, now: datetime | None = None) -> HealthView:
        with self._lock:
            outcomes = self._outcomes.get(channel, ())
            others = self._others.get(channel, _Others(0, 0, None))
            ok, calls = sum(outcomes) + others.successes, len(outcomes) + others.calls
            # After the cooldown the breaker is half-open: the channel is tried again.
            circuit_open = self._open_until.get(channel, 0.0) > self._clock()
            if others.open_until is not None and others.open_until > (now or utcnow()):
                circuit_open = True
            rate = (ok + PRIOR_SUCCESSES) / (calls + PRIOR_TOTAL)
            return HealthView(rate, calls, circuit_open)

    def share(self, session: Session, now: datetime | None = None) -> None:
        """Write this process's report and read the others' (the caller commits)."""
        from juhe.payments.models import ChannelHealthReport as Report

        now = now or utcnow()
        with self._lock:
            mine = [Report(process_id=self.process_id, channel=channel, successes=sum(outcomes), calls=len(outcomes),
                           open_until=self._wall_open_until(channel, now), reported_at=now)
                    for channel, outcomes in self._outcomes.items()]
        session.execute(delete(Report).where(Report.process_id == self.process_id))
        session.add_all(mine)
        fresh = session.scalars(select(Report).where(Report.process_id != self.process_id,
                                                     Report.reported_at >= now - timedelta(seconds=REPORT_FRESH_S))).all()
        others: dict[str, _Others] = {}
        for report in fresh:
            seen = others.get(report.channel, _Others(0, 0, None))
            latest_open = max(filter(None, (seen.open_until, report.open_until)), default=None)
            others[report.channel] = _Others(seen.successes + report.successes, seen.calls + report.calls, latest_open)
        with self._lock:
            self._others = others

    def _wall_open_until(self, channel: str, now: datetime) -> datetime | None:
        left = self._open_until.get(channel, 0.0) - self._clock()
        return now + timedelta(seconds=left) if left > 0 else None


async def keep_sharing(db, health: ChannelHealth, stop: asyncio.Event) -> None:
    """Every SHARE_EVERY_S until `stop`: one small commit per process."""
    def share() -> None:
        with db.session() as session, session.begin():
            health.share(session)

    while not stop.is_set():
        try:
            await db.run(share)
        except Exception:  # noqa: BLE001 -- a missed round only delays what others learn
            log.warning("channel_health.share_failed", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=SHARE_EVERY_S)
        except TimeoutError:
            pass
