"""Overview / fund monitor: live flow (the monitor's event stream), success rate per channel,
balances, fee rates actually paid, open incidents with their deadlines, recent payments."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.console.web import database, permitted, render
from juhe.db.types import utcnow
from juhe.monitor import figures, incidents, stream, views
from juhe.payments.models import Payment
from juhe.satisfaction import service as satisfaction

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("overview.view"))]
FEE_WINDOW_MINUTES = 24 * 60
INCIDENTS_SHOWN = 20
RECENT_PAYMENTS_SHOWN = 12
STREAM_INTERVAL_S = 2.0
SATISFACTION_WINDOW = timedelta(days=30)


@router.get("/")
def overview(request: Request, user: Viewer):
    now = utcnow()
    with database(request).reader() as session:
        conn = session.connection()
        flows = views.channel_totals(figures.flows(conn, figures.window_ending(now, stream.FIGURES_WINDOW_MINUTES), user.merchant_id))
        fees = figures.fees(conn, figures.window_ending(now, FEE_WINDOW_MINUTES), user.merchant_id)
        balances, unresolved = _balances(conn, user), _unresolved(conn, user, now)
        rated = satisfaction.figures(session, user.merchant_id, now - SATISFACTION_WINDOW)
    return render(request, "overview.html", user, flows=flows, balances=balances, fees=fees, incidents=unresolved,
                  satisfaction=rated, interval_s=STREAM_INTERVAL_S)


@router.get("/balances")
def balances_fragment(request: Request, user: Viewer):
    """Clearing, payable and reserve as they are now: reloaded on every `figures` event."""
    with database(request).reader() as session:
        return render(request, "_balances.html", user, balances=_balances(session.connection(), user))


@router.get("/incidents")
def incidents_fragment(request: Request, user: Viewer):
    """Open and acknowledged incidents by deadline, overdue ones marked: reloaded like the balances."""
    now = utcnow()
    with database(request).reader() as session:
        return render(request, "_incidents.html", user, incidents=_unresolved(session.connection(), user, now))


def _balances(conn, user: ConsoleUserView):
    return views.balance_totals(figures.balances(conn, user.merchant_id))


def _unresolved(conn, user: ConsoleUserView, now) -> list:
    found = [i for status in (incidents.OPEN, incidents.ACKNOWLEDGED)
             for i in incidents.list_incidents(conn, user.merchant_id, now=now, status=status, limit=INCIDENTS_SHOWN, cursor=None)[0]]
    return [(i, incidents.is_overdue(i.status, i.due_at, now)) for i in sorted(found, key=lambda i: i.due_at)]


@router.get("/recent-payments")
def recent_payments(request: Request, user: Viewer):
    """The htmx fragment the overview reloads on every `figures` event."""
    query = select(Payment).order_by(Payment.id.desc()).limit(RECENT_PAYMENTS_SHOWN)
    if user.merchant_id is not None:
        query = query.where(Payment.merchant_id == user.merchant_id)
    with database(request).reader() as session:
        rows = session.scalars(query).all()
    return render(request, "_recent_payments.html", user, payments=rows)


@router.get("/stream")
async def event_stream(request: Request, user: Viewer):
    """The monitor's server-sent events for the session's scope (EventSource sends the cookie,
    not an API key). Its database reads run in worker threads."""
    if stream.open_streams() >= stream.STREAMS_MAX:
        return StreamingResponse(iter(()), status_code=503)
    frames = stream.monitor_events(database(request), user.merchant_id, interval_s=STREAM_INTERVAL_S,
                                   last_event_id=None, disconnected=request.is_disconnected)
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
