"""Incidents: every alert opens one, with an owner and a response deadline. Statuses move
open → acknowledged → resolved and nowhere else; every move is recorded with who made it,
when, and their comment. An incident not resolved by its deadline is overdue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update

from juhe.db.models import new_id
from juhe.db.pages import keyset, split
from juhe.monitor.models import MonitorIncident, MonitorIncidentEvent
from juhe.monitor.rules import MonitorError

INCIDENTS = MonitorIncident.__table__
EVENTS = MonitorIncidentEvent.__table__
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
TRANSITIONS = {OPEN: frozenset({ACKNOWLEDGED}), ACKNOWLEDGED: frozenset({RESOLVED}), RESOLVED: frozenset()}
STAMPS = {ACKNOWLEDGED: "acknowledged_at", RESOLVED: "resolved_at"}
COMMENT_CHARS_MAX = 2_000
EVENTS_MAX = 100  # an incident has at most three transitions; this only bounds the read


@dataclass(frozen=True, slots=True)
class Incident:
    id: uuid.UUID
    merchant_id: uuid.UUID | None
    alert_id: uuid.UUID
    kind: str
    subject: str
    owner: str
    status: str
    due_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    from_status: str | None
    to_status: str
    actor: str
    comment: str
    at: datetime


def check_transition(current: str, wanted: str) -> None:
    if wanted not in TRANSITIONS[current]:
        raise MonitorError("illegal_transition", f"an incident that is {current} cannot become {wanted}", 409,
                           current_status=current, wanted_status=wanted)


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    return status != RESOLVED and now > due_at


def check_comment(wanted: str, comment: str) -> str:
    comment = comment.strip()
    if len(comment) > COMMENT_CHARS_MAX:
        raise MonitorError("invalid_comment", f"a comment is at most {COMMENT_CHARS_MAX} characters")
    if wanted == RESOLVED and not comment:
        raise MonitorError("comment_required", "say how the incident was resolved")
    return comment


def incident_of(row) -> Incident:
    return Incident(row.id, row.merchant_id, row.alert_id, row.kind, row.subject, row.owner, row.status, row.due_at,
                    row.opened_at, row.acknowledged_at, row.resolved_at)


def open_incident(
    conn: Connection, *, alert_id: uuid.UUID, merchant_id: uuid.UUID | None, kind: str, subject: str, owner: str,
    response_hours: int, now: datetime, actor: str,
) -> uuid.UUID:
    incident_id = new_id()
    conn.execute(insert(INCIDENTS).values(
        id=incident_id, merchant_id=merchant_id, alert_id=alert_id, kind=kind, subject=subject, owner=owner,
        status=OPEN, due_at=now + timedelta(hours=response_hours), opened_at=now,
    ))
    _record(conn, incident_id, merchant_id, None, OPEN, actor, "", now)
    return incident_id


def move_incident(
    conn: Connection, incident_id: uuid.UUID, scope: uuid.UUID | None, wanted: str, actor: str, comment: str, now: datetime,
) -> Incident:
    """Check, then write the new status and its audit record together; nothing changes on refusal."""
    comment = check_comment(wanted, comment)
    incident = get_incident(conn, incident_id, scope, lock=True)
    check_transition(incident.status, wanted)
    moved = conn.execute(
        update(INCIDENTS)
        .where(INCIDENTS.c.id == incident_id, INCIDENTS.c.status == incident.status)
        .values(status=wanted, **{STAMPS[wanted]: now})
    )
    # The row was locked (PostgreSQL) or the write lock held (SQLite): it cannot have moved.
    assert moved.rowcount == 1, f"incident {incident_id} changed under its lock"
    _record(conn, incident_id, incident.merchant_id, incident.status, wanted, actor, comment, now)
    return get_incident(conn, incident_id, scope)


def _record(conn, incident_id, merchant_id, from_status, to_status, actor: str, comment: str, now: datetime) -> None:
    conn.execute(insert(EVENTS).values(
        merchant_id=merchant_id, incident_id=incident_id, from_status=from_status, to_status=to_status,
        actor=actor, comment=comment, at=now,
    ))


def get_incident(conn: Connection, incident_id: uuid.UUID, scope: uuid.UUID | None, *, lock: bool = False) -> Incident:
    query = select(INCIDENTS).where(INCIDENTS.c.id == incident_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or (scope is not None and row.merchant_id != scope):
        raise MonitorError("incident_not_found", f"no incident {incident_id}", 404)
    return incident_of(row)


def incident_events(conn: Connection, incident_id: uuid.UUID) -> list[IncidentEvent]:
    e = EVENTS.c
    rows = conn.execute(select(e.from_status, e.to_status, e.actor, e.comment, e.at)
                        .where(e.incident_id == incident_id).order_by(e.id).limit(EVENTS_MAX))
    return [IncidentEvent(*row) for row in rows]


def list_incidents(
    conn: Connection, scope: uuid.UUID | None, *, now: datetime, status: str | None = None,
    overdue: bool | None = None, limit: int, cursor: uuid.UUID | None,
) -> tuple[list[Incident], str | None]:
    c = INCIDENTS.c
    query = select(INCIDENTS)
    if scope is not None:
        query = query.where(c.merchant_id == scope)
    if status is not None:
        query = query.where(c.status == status)
    if overdue is True:
        query = query.where(c.status != RESOLVED, c.due_at < now)
    elif overdue is False:
        query = query.where((c.status == RESOLVED) | (c.due_at >= now))
    rows, next_cursor = split(conn.execute(keyset(query, c.id, limit=limit, cursor=cursor)).all(), limit)
    return [incident_of(r) for r in rows], next_cursor


def unresolved_counts(conn: Connection, scope: uuid.UUID | None, now: datetime) -> dict[str, int]:
    """Open, acknowledged and overdue incidents: the console's headline."""
    c = INCIDENTS.c
    query = select(c.status, func.count(), func.count().filter(c.due_at < now)).where(c.status != RESOLVED).group_by(c.status)
    if scope is not None:
        query = query.where(c.merchant_id == scope)
    counts = {OPEN: 0, ACKNOWLEDGED: 0, "overdue": 0}
    for status, count, overdue in conn.execute(query):
        counts[status] = int(count)
        counts["overdue"] += int(overdue)
    return counts
