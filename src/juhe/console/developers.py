"""Developers (IT): API keys (revoke), webhook endpoints and their delivery log, store terminals,
and the health each channel shows the router."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.audit import trail
from juhe.console.web import Forbidden, acting, audit_record, database, permitted, render
from juhe.db.models import ApiKey
from juhe.merchants import MerchantError, revoke_api_key
from juhe.payments.models import PosTerminal
from juhe.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("developers.view"))]
Manager = Annotated[ConsoleUserView, Depends(acting("developers.manage"))]
ROWS = 50


@router.get("/developers")
def developers_page(request: Request, user: Viewer):
    merchant = user.merchant_id  # developers.view is a merchant's role only: never None here
    with database(request).reader() as session:
        keys = session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant).order_by(ApiKey.id.desc()).limit(ROWS)).all()
        endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant).limit(ROWS)).all()
        deliveries = session.execute(
            select(WebhookDelivery, WebhookEvent.type).join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.merchant_id == merchant).order_by(WebhookDelivery.id.desc()).limit(ROWS)).all()
        terminals = session.scalars(select(PosTerminal).where(PosTerminal.merchant_id == merchant).limit(ROWS)).all()
    payments = request.app.state.payments
    health = [(code, payments.health.view(code)) for code in sorted(payments.channels)]
    return render(request, "developers.html", user, keys=keys, endpoints=endpoints, deliveries=deliveries,
                  terminals=terminals, health=health)


@router.post("/developers/api-keys/{key_id}/revoke")
def revoke_key(key_id: uuid.UUID, request: Request, user: Manager):
    try:
        with database(request).session() as session, session.begin():
            revoke_api_key(session, user.merchant_id, key_id)
            trail.append(session, [audit_record(request, user, "api_key.revoke", "api_key", key_id)])
    except MerchantError:
        raise Forbidden() from None  # another merchant's key: nothing to say about it
    return RedirectResponse("/console/developers", status_code=303)
