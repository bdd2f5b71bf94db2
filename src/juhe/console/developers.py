"""Developers (IT): API keys (issue, revoke), webhook endpoints (add, disable) and their delivery
log, store terminals (register, disable), and the health each channel shows the router. A new
key's secret, an endpoint's signing secret and a terminal's MAC key are shown once, on the page
the action answers with; only their hashes or the keys themselves stay in the database."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.audit import trail
from juhe.console.web import Forbidden, acting, audit_record, database, permitted, render
from juhe.db.models import ApiKey, Store
from juhe.merchants import ROLES, MerchantError, issue_api_key, revoke_api_key
from juhe.payments.models import PosTerminal
from juhe.payments.service import PaymentError
from juhe.payments.terminals import register_terminal, set_enabled
from juhe.webhooks.endpoints import WebhookError, create_endpoint, disable_endpoint
from juhe.webhooks.outbox import ALL_TYPES
from juhe.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("developers.view"))]
Manager = Annotated[ConsoleUserView, Depends(acting("developers.manage"))]
ROWS = 50


@router.get("/developers")
def developers_page(request: Request, user: Viewer):
    return _page(request, user)


@router.post("/developers/api-keys/{key_id}/revoke")
def revoke_key(key_id: uuid.UUID, request: Request, user: Manager):
    return _act(request, user, "api_key.revoke", "api_key", lambda session: (revoke_api_key(session, user.merchant_id, key_id).id, None))

def _page(request: Request, user: ConsoleUserView, status_code: int = 200, **shown):
    """The page, with what an action shows once (a new secret) or the refusal it met."""
    merchant = user.merchant_id  # developers.view is a merchant's role only: never None here
    with database(request).reader() as session:
        keys = session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant).order_by(ApiKey.id.desc()).limit(ROWS)).all()
        endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant).limit(ROWS)).all()
        deliveries = session.execute(
            select(WebhookDelivery, WebhookEvent.type).join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.merchant_id == merchant).order_by(WebhookDelivery.id.desc()).limit(ROWS)).all()
        terminals = session.scalars(select(PosTerminal).where(PosTerminal.merchant_id == merchant).limit(ROWS)).all()
        stores = session.scalars(select(Store).where(Store.merchant_id == merchant).order_by(Store.code)).all()
    payments = request.app.state.payments
    health = [(code, payments.health.view(code)) for code in sorted(payments.channels)]
    return render(request, "developers.html", user, status_code, keys=keys, endpoints=endpoints, deliveries=deliveries,
                  terminals=terminals, stores=stores, health=health, key_roles=ROLES, **shown)


def _act(request: Request, user: ConsoleUserView, action: str, object_type: str, do):
    """Run `do(session)` → (object id, what to show once) with its audit record in one transaction;
    a refusal is shown on the page (422 and the like) and changes nothing."""
    try:
        with database(request).session() as session, session.begin():
            object_id, shown = do(session)
            trail.append(session, [audit_record(request, user, action, object_type, object_id)])
    except (MerchantError, WebhookError, PaymentError) as refusal:
        if getattr(refusal, "status", 422) == 404:
            raise Forbidden() from None  # another merchant's object: nothing to say about it
        return _page(request, user, getattr(refusal, "status", 422), error=str(refusal))
    if shown is None:
        return RedirectResponse("/console/developers", status_code=303)
    return _page(request, user, 201, shown=shown)


@router.post("/developers/api-keys")
def issue_key(request: Request, user: Manager, name: Annotated[str, Form(min_length=1, max_length=100)],
              role: Annotated[str, Form(max_length=20)]):
    def do(session):
        key, secret = issue_api_key(session, user.merchant_id, name, [role])
        return key.id, {"label": "api_key_secret", "value": secret}

    return _act(request, user, "api_key.issue", "api_key", do)


@router.post("/developers/webhook-endpoints")
def add_endpoint(request: Request, user: Manager, url: Annotated[str, Form(min_length=1, max_length=2000)]):
    def do(session):
        endpoint, secret = create_endpoint(session, user.merchant_id, url, [ALL_TYPES])
        return endpoint.id, {"label": "webhook_secret", "value": secret}

    return _act(request, user, "webhook_endpoint.create", "webhook_endpoint", do)


@router.post("/developers/webhook-endpoints/{endpoint_id}/disable")
def disable_webhook(endpoint_id: uuid.UUID, request: Request, user: Manager):
    return _act(request, user, "webhook_endpoint.disable", "webhook_endpoint",
                lambda session: (disable_endpoint(session, user.merchant_id, endpoint_id).id, None))


@router.post("/developers/terminals")
def add_terminal(request: Request, user: Manager, terminal_id: Annotated[str, Form(min_length=1, max_length=20)],
                 store_id: Annotated[str, Form(max_length=40)] = ""):
    def do(session):
        try:
            store = uuid.UUID(store_id) if store_id else None
        except ValueError:
            raise PaymentError(422, "store_not_found", f"no store {store_id}") from None
        terminal, mac_key = register_terminal(session, user.merchant_id, terminal_id, store)
        return terminal.terminal_id, {"label": "terminal_mac_key", "value": mac_key.hex()}

    return _act(request, user, "terminal.register", "terminal", do)


@router.post("/developers/terminals/{terminal_id}/disable")
def disable_terminal(terminal_id: str, request: Request, user: Manager):
    return _act(request, user, "terminal.disable", "terminal",
                lambda session: (set_enabled(session, user.merchant_id, terminal_id, False).terminal_id, None))
