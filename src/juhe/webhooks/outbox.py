"""The transactional outbox: an event and its deliveries are written in the caller's
database transaction, so a webhook goes out if and only if the change it reports commits.
The worker (delivery.py) sends them later; nothing here touches the network."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from juhe.db.models import new_id
from juhe.db.types import utcnow
from juhe.safety.crashpoints import hit as crash_point
from juhe.webhooks.models import DELIVERIES, ENDPOINTS, EVENTS

RETRY_WINDOW = timedelta(days=3)
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")  # payment.succeeded, refund.failed …
ALL_TYPES = "*"
BODY_BYTES_MAX = 256 * 1024  # receivers commonly cap request bodies; stay well inside


def enqueue_event(
    db: Session | Connection, merchant_id: uuid.UUID, type: str, payload: dict, *, now: datetime | None = None
) -> uuid.UUID:
    """Write the event and one pending delivery per enabled endpoint that subscribes to
    `type`, in the caller's transaction (no commit). Returns the event id."""
    if not EVENT_TYPE.match(type):
        raise ValueError(f"event type {type!r} is not like 'payment.succeeded'")
    conn = db.connection() if isinstance(db, Session) else db
    now = now or utcnow()
    event_id = new_id()
    # Render once now: a payload that is not JSON, or too big, fails the caller's transaction
    # rather than a delivery three days later.
    if len(event_body(event_id, type, now, payload)) > BODY_BYTES_MAX:
        raise ValueError(f"event body above {BODY_BYTES_MAX} bytes")
    conn.execute(insert(EVENTS).values(id=event_id, merchant_id=merchant_id, type=type, payload=payload, created_at=now))
    endpoints = conn.execute(
        select(ENDPOINTS.c.id, ENDPOINTS.c.event_types).where(
            ENDPOINTS.c.merchant_id == merchant_id, ENDPOINTS.c.enabled.is_(True)
        )
    ).all()
    rows = [
        {
            "id": new_id(), "merchant_id": merchant_id, "event_id": event_id, "endpoint_id": e.id,
            "status": "pending", "attempts": 0, "next_attempt_at": now, "retry_until": now + RETRY_WINDOW,
            "created_at": now,
        }
        for e in endpoints
        if subscribes(e.event_types, type)
    ]
    if rows:
        conn.execute(insert(DELIVERIES), rows)
    crash_point("outbox.inserted")
    return event_id


def subscribes(event_types: list[str], type: str) -> bool:
    return ALL_TYPES in event_types or type in event_types


def event_body(event_id: uuid.UUID, type: str, created_at: datetime, payload: dict) -> bytes:
    """The exact bytes POSTed (and signed) for an event; the same on every attempt."""
    body = {"id": str(event_id), "type": type, "created_at": created_at.astimezone(timezone.utc).isoformat(), "data": payload}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
