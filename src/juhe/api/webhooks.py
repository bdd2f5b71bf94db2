"""Webhook endpoints, their secrets, and the delivery log of the calling merchant (IT role)."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Iterator, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from juhe.api.deps import ReadSessionDep, SessionDep, require
from juhe.api.errors import ApiError
from juhe.merchants import Principal
from juhe.webhooks import endpoints, queries
from juhe.webhooks.endpoints import PREVIOUS_SECRET_GRACE_MAX, WebhookError

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Integrator = Annotated[Principal, Depends(require("it"))]
PageLimit = Annotated[int, Query(ge=1, le=queries.PAGE_MAX)]
GRACE_DEFAULT_S = 24 * 3600


class EndpointIn(BaseModel):
    url: str = Field(examples=["https://shop.example.com/juhe/webhooks"])
    event_types: list[str] = Field(["*"], examples=[["payment.succeeded", "refund.succeeded"]])


class RotateIn(BaseModel):
    expire_previous_in_s: int = Field(
        GRACE_DEFAULT_S, ge=0, le=int(PREVIOUS_SECRET_GRACE_MAX.total_seconds()),
        description="how long the old secret keeps signing beside the new one; 0 ends it now",
    )


@router.post("/endpoints", status_code=201)
def create_endpoint(body: EndpointIn, principal: Integrator, session: SessionDep) -> dict:
    """The signing secret is in this answer only (and in the answer of rotate-secret)."""
    with _domain():
        endpoint, secret = endpoints.create_endpoint(session, principal.merchant_id, body.url, body.event_types)
    return {**queries.endpoint_view(endpoint), "secret": secret}


@router.get("/endpoints")
def list_endpoints(principal: Integrator, session: ReadSessionDep, limit: PageLimit = 50, cursor: uuid.UUID | None = None) -> dict:
    page = queries.list_endpoints(session.connection(), principal.merchant_id, limit=limit, cursor=cursor)
    return page.as_json()


@router.get("/endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: uuid.UUID, principal: Integrator, session: ReadSessionDep) -> dict:
    return _found(queries.get_endpoint(session.connection(), principal.merchant_id, endpoint_id), "webhook endpoint")


@router.delete("/endpoints/{endpoint_id}")
def disable_endpoint(endpoint_id: uuid.UUID, principal: Integrator, session: SessionDep) -> dict:
    with _domain():
        return queries.endpoint_view(endpoints.disable_endpoint(session, principal.merchant_id, endpoint_id))


@router.post("/endpoints/{endpoint_id}/rotate-secret")
def rotate_secret(endpoint_id: uuid.UUID, principal: Integrator, session: SessionDep, body: RotateIn | None = None) -> dict:
    grace = timedelta(seconds=(body or RotateIn()).expire_previous_in_s)
    with _domain():
        endpoint, secret = endpoints.rotate_secret(session, principal.merchant_id, endpoint_id, grace)
    return {**queries.endpoint_view(endpoint), "secret": secret}


@router.get("/deliveries")
def list_deliveries(
    principal: Integrator, session: ReadSessionDep, limit: PageLimit = 50, cursor: uuid.UUID | None = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
    event_type: Annotated[str | None, Query(max_length=100)] = None,
) -> dict:
    page = queries.list_deliveries(
        session.connection(), principal.merchant_id, limit=limit, cursor=cursor, status=status, event_type=event_type
    )
    return page.as_json()


@router.get("/deliveries/{delivery_id}")
def get_delivery(delivery_id: uuid.UUID, principal: Integrator, session: ReadSessionDep) -> dict:
    return _found(queries.get_delivery(session.connection(), principal.merchant_id, delivery_id), "delivery")


@router.post("/deliveries/{delivery_id}/redeliver")
def redeliver(delivery_id: uuid.UUID, principal: Integrator, session: SessionDep) -> dict:
    """Back to pending, due now, with a fresh 3-day retry window (delivered or failed ones only)."""
    with _domain():
        endpoints.redeliver(session, principal.merchant_id, delivery_id)
    return queries.get_delivery(session.connection(), principal.merchant_id, delivery_id)


@router.get("/events/{event_id}")
def get_event(event_id: uuid.UUID, principal: Integrator, session: ReadSessionDep) -> dict:
    return _found(queries.get_event(session.connection(), principal.merchant_id, event_id), "event")


@contextmanager
def _domain() -> Iterator[None]:
    try:
        yield
    except WebhookError as e:
        raise ApiError(e.status, e.code, str(e)) from None


def _found(item: dict | None, label: str) -> dict:
    if item is None:
        raise ApiError(404, "not_found", f"no such {label}")
    return item
