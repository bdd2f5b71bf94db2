"""Alerts: raised by the evaluated rules on every worker round (`evaluate_rules`) or by the
module that found the problem (`raise_alert`: reconciliation differences, reserve mismatches,
settlement failures). Each alert opens an incident in the same transaction.

Idempotent by construction: every alert has a dedupe key, unique in the table, so the same
condition in the same window is stored once however often, and by however many workers
at the same moment, it is evaluated."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from juhe.db.models import new_id
from juhe.db.pages import keyset, split
from juhe.db.types import utcnow
from juhe.monitor import detect, rule_store
from juhe.monitor.incidents import INCIDENTS, open_incident
from juhe.monitor.models import MonitorAlert
from juhe.monitor.rules import (
    BPS, DEFAULT_OWNERS, EVALUATED_KINDS, LARGE_HIGH_FREQUENCY_TRANSFERS, RESPONSE_HOURS_DEFAULT,
    MonitorError, Rule, check_kind,
)

ALERTS = MonitorAlert.__table__
SYSTEM_ACTOR = "system:monitor"
KEY_CHARS_MAX = 255
SUBJECT_CHARS_MAX = 255
STREAM_BATCH_MAX = 100


@dataclass(frozen=True, slots=True)
class Alert:
    id: uuid.UUID
    merchant_id: uuid.UUID | None
    rule_id: uuid.UUID | None
    kind: str
    subject: str
    detail: dict
    raised_at: datetime
    incident_id: uuid.UUID | None
    incident_status: str | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """An alert about to be stored, with the rule that decides who answers it."""

    kind: str
    merchant_id: uuid.UUID | None
    rule: Rule | None
    subject: str
    detail: dict
    dedupe_key: str
    last_event_at: datetime | None = None


def raise_alert(
    conn: Connection, kind: str, merchant_id: uuid.UUID | None, subject: str, detail: dict, dedupe_key: str,
    *, now: datetime | None = None,
) -> Alert | None:
    """Raise an alert for another module. None when the same dedupe key was raised before, or
    the applicable rule of this kind is disabled (muted)."""
    check_kind(kind)
    if not subject or len(subject) > SUBJECT_CHARS_MAX:
        raise MonitorError("invalid_alert", f"an alert's subject is 1 to {SUBJECT_CHARS_MAX} characters")
    if not dedupe_key or len(dedupe_key) > KEY_CHARS_MAX:
        raise MonitorError("invalid_alert", f"a dedupe key is 1 to {KEY_CHARS_MAX} characters")
    rule = rule_store.applicable_rule(conn, kind, merchant_id)
    if rule is not None and not rule.enabled:
        return None
    return _store(conn, Draft(kind, merchant_id, rule, subject, dict(detail), dedupe_key), now or utcnow())


def evaluate_rules(conn: Connection, now: datetime) -> list[Alert]:
    """Evaluate every enabled rule of the evaluated kinds; the alerts that are new."""
    raised = []
    for rule in rule_store.enabled_rules(conn, EVALUATED_KINDS):
        drafts = _burst_drafts(conn, rule, now) if rule.kind == LARGE_HIGH_FREQUENCY_TRANSFERS else _rate_drafts(conn, rule, now)
        raised += [alert for alert in (_store(conn, d, now) for d in drafts) if alert is not None]
    return raised


def _burst_drafts(conn: Connection, rule: Rule, now: datetime) -> list[Draft]:
    params = rule.params
    drafts = []
    for burst in detect.large_transfer_bursts(conn, rule, now):
        detail = {
            "source": burst.source, "party": burst.party, "count": burst.count, "amount_minor": burst.amount_minor,
            "currency": params["currency"], "first_at": burst.first_at.isoformat(), "last_at": burst.last_at.isoformat(),
            "min_count": params["min_count"], "min_amount_minor": params["min_amount_minor"],
            "window_minutes": params["window_minutes"],
        }
        # The first event after the last alert's watermark names the burst: every evaluator
        # that sees this burst derives the same key.
        key = f"{rule.id}:{burst.subject}:{burst.first_at.isoformat()}"
        drafts.append(Draft(rule.kind, burst.merchant_id, rule, burst.subject, detail, key, burst.last_at))
    return drafts


def _rate_drafts(conn: Connection, rule: Rule, now: datetime) -> list[Draft]:
    params = rule.params
    window_s = params["window_minutes"] * 60
    # A drop that lasts is reported once per window length, not on every round.
    period = int(now.timestamp()) // window_s
    drafts = []
    for drop in detect.success_rate_drops(conn, rule, now):
        finished = drop.succeeded + drop.failed + drop.closed
        detail = {
            "channel": drop.channel, "succeeded": drop.succeeded, "failed": drop.failed, "closed": drop.closed,
            "success_rate_bps": drop.succeeded * BPS // finished, "floor_bps": params["floor_bps"],
            "min_sample": params["min_sample"], "window_minutes": params["window_minutes"],
        }
        key = f"{rule.id}:channel:{drop.channel}:{period}"
        drafts.append(Draft(rule.kind, rule.merchant_id, rule, f"channel:{drop.channel}", detail, key))
    return drafts


def _stored_key(draft: Draft) -> str:
    # Keys of different kinds and merchants never collide, whatever the raising module chose.
    return f"{draft.kind}:{draft.merchant_id or 'platform'}:{draft.dedupe_key}"


def _store(conn: Connection, draft: Draft, now: datetime) -> Alert | None:
    key = _stored_key(draft)
    if conn.scalar(select(ALERTS.c.id).where(ALERTS.c.dedupe_key == key)) is not None:
        return None
    alert_id = new_id()
    owner = draft.rule.owner if draft.rule else DEFAULT_OWNERS[draft.kind]
    hours = draft.rule.response_hours if draft.rule else RESPONSE_HOURS_DEFAULT
    try:
        # A savepoint: losing the race to another worker drops this alert, not the transaction.
        with conn.begin_nested():
            conn.execute(insert(ALERTS).values(
                id=alert_id, merchant_id=draft.merchant_id, rule_id=draft.rule.id if draft.rule else None, kind=draft.kind,
                subject=draft.subject, detail=draft.detail, dedupe_key=key, last_event_at=draft.last_event_at, raised_at=now,
            ))
            incident_id = open_incident(conn, alert_id=alert_id, merchant_id=draft.merchant_id, kind=draft.kind,
                                        subject=draft.subject, owner=owner, response_hours=hours, now=now, actor=SYSTEM_ACTOR)
    except IntegrityError:
        return None
    return Alert(alert_id, draft.merchant_id, draft.rule.id if draft.rule else None, draft.kind, draft.subject,
                 draft.detail, now, incident_id, "open")


def _with_incident():
    i = INCIDENTS.c
    return select(ALERTS, i.id.label("incident_id"), i.status.label("incident_status")).select_from(
        ALERTS.outerjoin(INCIDENTS, i.alert_id == ALERTS.c.id))


def alert_of(row) -> Alert:
    return Alert(row.id, row.merchant_id, row.rule_id, row.kind, row.subject, dict(row.detail), row.raised_at,
                 row.incident_id, row.incident_status)


def list_alerts(
    conn: Connection, scope: uuid.UUID | None, *, kind: str | None = None, limit: int, cursor: uuid.UUID | None,
) -> tuple[list[Alert], str | None]:
    query = _with_incident()
    if scope is not None:
        query = query.where(ALERTS.c.merchant_id == scope)
    if kind is not None:
        query = query.where(ALERTS.c.kind == check_kind(kind))
    rows, next_cursor = split(conn.execute(keyset(query, ALERTS.c.id, limit=limit, cursor=cursor)).all(), limit)
    return [alert_of(r) for r in rows], next_cursor


def alerts_after(conn: Connection, scope: uuid.UUID | None, after: uuid.UUID | None) -> list[Alert]:
    """Alerts newer than `after`, oldest first (ids are time-ordered): what a stream sends next."""
    query = _with_incident().order_by(ALERTS.c.id).limit(STREAM_BATCH_MAX)
    if after is not None:
        query = query.where(ALERTS.c.id > after)
    if scope is not None:
        query = query.where(ALERTS.c.merchant_id == scope)
    return [alert_of(r) for r in conn.execute(query)]


def latest_alert_id(conn: Connection, scope: uuid.UUID | None) -> uuid.UUID | None:
    query = select(ALERTS.c.id).order_by(ALERTS.c.id.desc()).limit(1)
    if scope is not None:
        query = query.where(ALERTS.c.merchant_id == scope)
    return conn.scalar(query)
