"""The console's live feed as server-sent events: `event: figures` every few seconds, and
`event: alert` (with the alert's id as the event id) as soon as a new alert is stored.

A browser that reconnects sends `Last-Event-ID` and gets the alerts it missed. A stream
ends when the client goes away (the server cancels it, and it also checks between ticks)
or after STREAM_DURATION_MAX_S, after which the browser reconnects by itself."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import AsyncIterator, Awaitable, Callable

import anyio
from prometheus_client import Gauge

from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.monitor import alerts, figures, incidents, views

FIGURES_WINDOW_MINUTES = 15
ALERT_POLL_S = 1.0
STREAM_DURATION_MAX_S = 3600
STREAMS_MAX = 100  # each open stream polls the database; beyond this, clients are refused
RECONNECT_MS = 3000
OPEN_STREAMS = Gauge("juhe_monitor_streams_open", "Open monitor event streams")


_open_streams = 0  # touched only on the event loop's thread


def open_streams() -> int:
    return _open_streams


def sse(event: str, data: dict, event_id: str | None = None) -> str:
    lines = [f"event: {event}"] + ([f"id: {event_id}"] if event_id else []) + [f"data: {json.dumps(data, ensure_ascii=False)}"]
    return "\n".join(lines) + "\n\n"


def _figures(db: Database, scope: uuid.UUID | None) -> dict:
    now = utcnow()
    window = figures.window_ending(now, FIGURES_WINDOW_MINUTES)
    with db.reader() as session:
        conn = session.connection()
        flows = figures.flows(conn, window, scope)
        counts = incidents.unresolved_counts(conn, scope, now)
    return {"at": now.isoformat(), "window": views.window_view(window), "flows": views.channel_totals(flows),
            "incidents": counts}


def _alerts_after(db: Database, scope: uuid.UUID | None, after: uuid.UUID | None) -> list[alerts.Alert]:
    with db.reader() as session:
        return alerts.alerts_after(session.connection(), scope, after)


def _latest(db: Database, scope: uuid.UUID | None) -> uuid.UUID | None:
    with db.reader() as session:
        return alerts.latest_alert_id(session.connection(), scope)


async def monitor_events(
    db: Database, scope: uuid.UUID | None, *, interval_s: float, last_event_id: uuid.UUID | None,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """The frames of one stream. Database reads run in worker threads, off the event loop."""
    global _open_streams
    _open_streams += 1
    OPEN_STREAMS.inc()
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        after = last_event_id or await anyio.to_thread.run_sync(_latest, db, scope)
        started = time.monotonic()
        figures_due = started
        while time.monotonic() - started < STREAM_DURATION_MAX_S and not await disconnected():
            if time.monotonic() >= figures_due:
                yield sse("figures", await anyio.to_thread.run_sync(_figures, db, scope))
                figures_due = time.monotonic() + interval_s
            for alert in await anyio.to_thread.run_sync(_alerts_after, db, scope, after):
                yield sse("alert", views.alert_view(alert), str(alert.id))
                after = alert.id
            await asyncio.sleep(min(ALERT_POLL_S, interval_s, max(0.0, figures_due - time.monotonic())))
    finally:
        _open_streams -= 1
        OPEN_STREAMS.dec()
