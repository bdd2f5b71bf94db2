"""Read side of webhooks, always scoped to one merchant, with cursor pagination by id desc.
Secrets never appear here: they are shown once, by the calls that create them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, select

from juhe.db.pages import PAGE_MAX, Page, keyset, split  # noqa: F401 -- PAGE_MAX re-exported for the API

from juhe.webhooks.models import ATTEMPTS, DELIVERIES, ENDPOINTS, EVENTS

ATTEMPTS_SHOWN_MAX = 100  # the newest; a delivery retried for days has a few dozen
DELIVERY_COLUMNS = (*DELIVERIES.c, EVENTS.c.type.label("event_type"), ENDPOINTS.c.url)


def endpoint_view(row) -> dict:
    return {
        "id": str(row.id), "url": row.url, "event_types": row.event_types, "enabled": row.enabled,
        "previous_secret_expires_at": _iso(row.previous_secret_expires_at),
        "created_at": _iso(row.created_at), "disabled_at": _iso(row.disabled_at),
    }


def delivery_view(row) -> dict:
    return {
        "id": str(row.id), "event_id": str(row.event_id), "event_type": row.event_type,
        "endpoint_id": str(row.endpoint_id), "url": row.url, "status": row.status, "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at), "retry_until": _iso(row.retry_until),
        "last_status_code": row.last_status_code, "last_error": row.last_error,
        "created_at": _iso(row.created_at), "delivered_at": _iso(row.delivered_at),
    }


def attempt_view(row) -> dict:
    return {
        "id": str(row.id), "attempted_at": _iso(row.attempted_at), "status_code": row.status_code,
        "error": row.error, "duration_ms": row.duration_ms,
    }


def get_endpoint(conn: Connection, merchant_id: uuid.UUID, endpoint_id: uuid.UUID) -> dict | None:
    row = conn.execute(
        select(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id, ENDPOINTS.c.merchant_id == merchant_id)
    ).first()
    return endpoint_view(row) if row else None


def list_endpoints(conn: Connection, merchant_id: uuid.UUID, *, limit: int, cursor: uuid.UUID | None = None) -> Page:
    query = select(ENDPOINTS).where(ENDPOINTS.c.merchant_id == merchant_id)
    rows, next_cursor = split(conn.execute(keyset(query, ENDPOINTS.c.id, limit=limit, cursor=cursor)).all(), limit)
    return Page([endpoint_view(r) for r in rows], next_cursor)


def list_deliveries(
    conn: Connection, merchant_id: uuid.UUID, *, limit: int, cursor: uuid.UUID | None = None,
    status: str | None = None, event_type: str | None = None,
) -> Page:
    query = _deliveries().where(DELIVERIES.c.merchant_id == merchant_id)
    if status:
        query = query.where(DELIVERIES.c.status == status)
    if event_type:
        query = query.where(EVENTS.c.type == event_type)
    rows, next_cursor = split(conn.execute(keyset(query, DELIVERIES.c.id, limit=limit, cursor=cursor)).all(), limit)
    return Page([delivery_view(r) for r in rows], next_cursor)


def get_delivery(conn: Connection, merchant_id: uuid.UUID, delivery_id: uuid.UUID) -> dict | None:
    """The delivery with its attempts log, oldest first."""
    row = conn.execute(
        _deliveries().where(DELIVERIES.c.id == delivery_id, DELIVERIES.c.merchant_id == merchant_id)
    ).first()
    if row is None:
        return None
    attempts = conn.execute(
        select(ATTEMPTS)
        .where(ATTEMPTS.c.delivery_id == delivery_id, ATTEMPTS.c.merchant_id == merchant_id)
        .order_by(ATTEMPTS.c.attempted_at.desc(), ATTEMPTS.c.id.desc())
        .limit(ATTEMPTS_SHOWN_MAX)
    ).all()
    return {**delivery_view(row), "attempts_log": [attempt_view(a) for a in reversed(attempts)]}


def get_event(conn: Connection, merchant_id: uuid.UUID, event_id: uuid.UUID) -> dict | None:
    """The event as sent (`data` is the payload) and the state of each of its deliveries."""
    row = conn.execute(select(EVENTS).where(EVENTS.c.id == event_id, EVENTS.c.merchant_id == merchant_id)).first()
    if row is None:
        return None
    deliveries = conn.execute(
        _deliveries().where(DELIVERIES.c.event_id == event_id, DELIVERIES.c.merchant_id == merchant_id)
        .order_by(DELIVERIES.c.id)
    ).all()
    return {
        "id": str(row.id), "type": row.type, "created_at": _iso(row.created_at), "data": row.payload,
        "deliveries": [delivery_view(d) for d in deliveries],
    }


def _deliveries():
    return select(*DELIVERY_COLUMNS).join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id).join(
        ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id
    )



def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
