"""Live fund monitoring: figures, alert rules, alerts, incidents, and the console's event stream.

A merchant key sees its own merchant only. The platform operator (JUHE_PLATFORM_TOKEN) sees
every merchant and the platform's own accounts, and keeps the rules that watch everyone.
Finance and risk read; admin and risk change rules; finance and risk answer incidents."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from juhe.api.deps import Caller, DatabaseDep, caller
from juhe.api.errors import ApiError
from juhe.db.pages import PAGE_MAX
from juhe.db.types import utcnow
from juhe.monitor import alerts, figures, incidents, rule_store, stream, views
from juhe.monitor.rules import WINDOW_MINUTES_MAX, MonitorError
from juhe.satisfaction import service as satisfaction

router = APIRouter(prefix="/v1/monitor", tags=["monitor"])
Reader = Annotated[Caller, Depends(caller("finance", "risk"))]
Responder = Annotated[Caller, Depends(caller("finance", "risk"))]
RuleEditor = Annotated[Caller, Depends(caller("risk"))]
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX)]
WindowMinutes = Annotated[int, Query(ge=1, le=WINDOW_MINUTES_MAX)]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(examples=["large_high_frequency_transfers"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[
        {"currency": "CNY", "min_amount_minor": 5_000_000, "min_count": 3, "window_minutes": 60}])
    owner: str | None = Field(None, examples=["role:risk", "user:zhang.wei"])
    response_hours: StrictInt = 24
    enabled: StrictBool = True
    merchant_id: uuid.UUID | None = Field(None, description="platform operator only: the merchant to watch; omit for all")


class RuleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")  # the kind of a rule never changes
    params: dict[str, Any] | None = None
    owner: str | None = None
    response_hours: StrictInt | None = None
    enabled: StrictBool | None = None


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", max_length=incidents.COMMENT_CHARS_MAX)


@contextmanager
def refusals():
    """The monitor's refusals as problem+json, with their stable codes."""
    try:
        yield
    except MonitorError as error:
        extra = {"errors": error.errors} if error.errors else {}
        raise ApiError(error.status, error.code, str(error), **extra, **error.extra) from None


@contextmanager
def reading(db):
    with db.reader() as session, refusals():
        yield session.connection()


@contextmanager
def writing(db):
    with db.session() as session, session.begin(), refusals():
        yield session.connection()


def merchant_filter(who: Caller, merchant_id: uuid.UUID | None) -> uuid.UUID | None:
    """The platform may look at one merchant; a merchant only ever at itself."""
    if who.scope is None:
        return merchant_id
    if merchant_id is not None and merchant_id != who.scope:
        raise ApiError(404, "not_found", f"no merchant {merchant_id}")
    return who.scope


@router.get("/flows")
def get_flows(who: Reader, db: DatabaseDep, window_minutes: WindowMinutes = 60, merchant_id: uuid.UUID | None = None) -> dict:
    """Payments per merchant, channel and currency over the last window, with success rates."""
    window = figures.window_ending(utcnow(), window_minutes)
    with reading(db) as conn:
        return views.figures_view(window, figures.flows(conn, window, merchant_filter(who, merchant_id)))


@router.get("/fees")
def get_fees(who: Reader, db: DatabaseDep, window_minutes: WindowMinutes = 60, merchant_id: uuid.UUID | None = None) -> dict:
    """Channel fees actually paid on the window's successful payments, in basis points."""
    window = figures.window_ending(utcnow(), window_minutes)
    with reading(db) as conn:
        return views.figures_view(window, figures.fees(conn, window, merchant_filter(who, merchant_id)))


@router.get("/satisfaction")
def get_satisfaction(who: Reader, db: DatabaseDep, days: Annotated[int, Query(ge=1, le=366)] = 30,
                     merchant_id: uuid.UUID | None = None) -> dict:
    """Payers' ratings from their receipt pages over the last `days`: count, mean score (1–5) and the
    share satisfied (4–5 stars, a fraction), overall and per store, channel and scenario."""
    with db.reader() as session:
        return satisfaction.figures(session, merchant_filter(who, merchant_id), utcnow() - timedelta(days=days))


@router.get("/balances")
def get_balances(who: Reader, db: DatabaseDep, merchant_id: uuid.UUID | None = None) -> dict:
    """Clearing, payable and reserve balances from the ledger, with totals per currency."""
    with reading(db) as conn:
        rows = figures.balances(conn, merchant_filter(who, merchant_id))
    return {**views.figures_view(None, rows), "totals": views.balance_totals(rows)}


@router.get("/alerts")
def list_alerts(who: Reader, db: DatabaseDep, kind: str | None = None, limit: Limit = 50, cursor: uuid.UUID | None = None) -> dict:
    with reading(db) as conn:
        rows, next_cursor = alerts.list_alerts(conn, who.scope, kind=kind, limit=limit, cursor=cursor)
    return {"data": [views.alert_view(a) for a in rows], "next_cursor": next_cursor}


@router.get("/incidents")
def list_incidents(
    who: Reader, db: DatabaseDep, status: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    overdue: bool | None = None, limit: Limit = 50, cursor: uuid.UUID | None = None,
) -> dict:
    now = utcnow()
    with reading(db) as conn:
        rows, next_cursor = incidents.list_incidents(conn, who.scope, now=now, status=status, overdue=overdue,
                                                     limit=limit, cursor=cursor)
    return {"data": [views.incident_view(i, now) for i in rows], "next_cursor": next_cursor}


@router.get("/incidents/{incident_id}")
def get_incident(incident_id: uuid.UUID, who: Reader, db: DatabaseDep) -> dict:
    """One incident with its audit trail."""
    with reading(db) as conn:
        incident = incidents.get_incident(conn, incident_id, who.scope)
        return views.incident_view(incident, utcnow(), incidents.incident_events(conn, incident_id))


@router.post("/incidents/{incident_id}/acknowledge")
def acknowledge(incident_id: uuid.UUID, who: Responder, db: DatabaseDep, body: Transition | None = None) -> dict:
    return _move(db, who, incident_id, incidents.ACKNOWLEDGED, body)


@router.post("/incidents/{incident_id}/resolve")
def resolve(incident_id: uuid.UUID, who: Responder, db: DatabaseDep, body: Transition | None = None) -> dict:
    """Needs a comment saying how it was resolved."""
    return _move(db, who, incident_id, incidents.RESOLVED, body)


def _move(db, who: Caller, incident_id: uuid.UUID, wanted: str, body: Transition | None) -> dict:
    now = utcnow()
    with writing(db) as conn:
        incident = incidents.move_incident(conn, incident_id, who.scope, wanted, who.actor, (body or Transition()).comment, now)
        return views.incident_view(incident, now, incidents.incident_events(conn, incident_id))


@router.get("/rules")
def list_rules(who: Reader, db: DatabaseDep, limit: Limit = 50, cursor: uuid.UUID | None = None) -> dict:
    with reading(db) as conn:
        rows, next_cursor = rule_store.list_rules(conn, who.scope, limit=limit, cursor=cursor)
    return {"data": [views.rule_view(r) for r in rows], "next_cursor": next_cursor}


@router.get("/rules/{rule_id}")
def get_rule(rule_id: uuid.UUID, who: Reader, db: DatabaseDep) -> dict:
    with reading(db) as conn:
        return views.rule_view(rule_store.get_rule(conn, rule_id, who.scope))


@router.post("/rules", status_code=201)
def create_rule(body: RuleIn, who: RuleEditor, db: DatabaseDep) -> dict:
    if who.scope is not None and body.merchant_id not in (None, who.scope):
        raise ApiError(404, "not_found", f"no merchant {body.merchant_id}")
    merchant_id = who.scope if who.scope is not None else body.merchant_id
    with writing(db) as conn:
        rule = rule_store.create_rule(conn, merchant_id, body.kind, body.params, owner=body.owner,
                                      response_hours=body.response_hours, enabled=body.enabled)
    return views.rule_view(rule)


@router.patch("/rules/{rule_id}")
def change_rule(rule_id: uuid.UUID, body: RuleChange, who: RuleEditor, db: DatabaseDep) -> dict:
    """Send only what changes: params (whole), owner, response_hours, enabled."""
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise ApiError(422, "validation_error", f"{name} cannot be null", errors=[{"loc": ["body", name], "msg": "null"}])
    with writing(db) as conn:
        return views.rule_view(rule_store.update_rule(conn, rule_id, who.scope, changes))


@router.get("/stream", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def event_stream(
    request: Request, who: Reader, db: DatabaseDep,
    interval_s: Annotated[float, Query(ge=0.2, le=60)] = 5.0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: `figures` every interval_s seconds, `alert` as alerts are raised."""
    if stream.open_streams() >= stream.STREAMS_MAX:
        raise ApiError(503, "too_many_streams", "too many open monitor streams; retry later")
    try:
        resume_after = uuid.UUID(last_event_id) if last_event_id else None
    except ValueError:
        resume_after = None  # not one of our ids: start from now
    frames = stream.monitor_events(db, who.scope, interval_s=interval_s, last_event_id=resume_after,
                                   disconnected=request.is_disconnected)
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
