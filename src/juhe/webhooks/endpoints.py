"""Endpoints and their secrets, and redelivery: the write side the IT role drives."""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from juhe.config import get_settings
from juhe.db.types import utcnow
from juhe.webhooks.models import DELIVERIES, URL_LENGTH_MAX, WebhookDelivery, WebhookEndpoint
from juhe.webhooks.outbox import ALL_TYPES, EVENT_TYPE, RETRY_WINDOW

SECRET_PREFIX = "whsec_"
ENDPOINTS_PER_MERCHANT_MAX = 20  # every event is sent once per endpoint
EVENT_TYPES_MAX = 50
EVENT_TYPE_LENGTH_MAX = 100  # webhook_events.type
PREVIOUS_SECRET_GRACE_MAX = timedelta(days=7)


class WebhookError(Exception):
    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code = code
        self.status = status


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host and no embedded credentials."""
    if len(url) > URL_LENGTH_MAX or any(c.isspace() for c in url):
        raise _invalid_url()
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError:
        raise _invalid_url() from None
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise _invalid_url()
    if not get_settings().webhook_allow_private_urls and _internal(host):
        raise WebhookError("invalid_url", "url points into a private network; set JUHE_WEBHOOK_ALLOW_PRIVATE_URLS=true to allow")
    return url


def _internal(host: str) -> bool:
    """Loopback, private, link-local (cloud metadata) or reserved: not a merchant's public server."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name; resolved at delivery time by the HTTP client
    return address.is_private or address.is_loopback or address.is_link_local or address.is_reserved or address.is_unspecified


def _invalid_url() -> WebhookError:
    return WebhookError("invalid_url", "url must be an absolute http:// or https:// URL with a host, without credentials")


def check_event_types(event_types: list[str]) -> list[str]:
    unique = sorted(set(event_types))
    if not unique or len(unique) > EVENT_TYPES_MAX:
        raise WebhookError("invalid_event_types", f"give 1 to {EVENT_TYPES_MAX} event types, or ['*'] for all")
    if ALL_TYPES in unique:
        return [ALL_TYPES]
    bad = [t for t in unique if len(t) > EVENT_TYPE_LENGTH_MAX or not EVENT_TYPE.match(t)]
    if bad:
        raise WebhookError("invalid_event_types", f"{bad[0]!r} is not an event type like 'payment.succeeded'")
    return unique


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def create_endpoint(
    session: Session, merchant_id: uuid.UUID, url: str, event_types: list[str]
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its signing secret (shown to the caller once, in the answer)."""
    url, event_types = check_url(url), check_event_types(event_types)
    enabled = session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(
            WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.enabled.is_(True)
        )
    )
    if enabled >= ENDPOINTS_PER_MERCHANT_MAX:
        raise WebhookError("too_many_endpoints", f"at most {ENDPOINTS_PER_MERCHANT_MAX} enabled endpoints", 409)
    secret = new_secret()
    endpoint = WebhookEndpoint(merchant_id=merchant_id, url=url, secret=secret, event_types=event_types, enabled=True)
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def disable_endpoint(session: Session, merchant_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Stop sending to it: its pending deliveries fail now. Disabling twice changes nothing."""
    endpoint = _endpoint(session, merchant_id, endpoint_id)
    if endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_at = utcnow()
        session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.endpoint_id == endpoint_id, DELIVERIES.c.status == "pending")
            .values(status="failed", next_attempt_at=None, last_error="endpoint disabled")
        )
    return endpoint


def rotate_secret(
    session: Session, merchant_id: uuid.UUID, endpoint_id: uuid.UUID, expire_previous_in: timedelta,
    now: datetime | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the old one keeps signing alongside it for `expire_previous_in`."""
    assert timedelta(0) <= expire_previous_in <= PREVIOUS_SECRET_GRACE_MAX
    endpoint = _endpoint(session, merchant_id, endpoint_id)
    if not endpoint.enabled:
        raise WebhookError("endpoint_disabled", "this endpoint is disabled", 409)
    now = now or utcnow()
    keep_previous = expire_previous_in > timedelta(0)
    endpoint.previous_secret = endpoint.secret if keep_previous else None
    endpoint.previous_secret_expires_at = now + expire_previous_in if keep_previous else None
    endpoint.secret = new_secret()
    return endpoint, endpoint.secret


def active_secrets(secret: str, previous_secret: str | None, previous_expires_at: datetime | None, now: datetime) -> list[str]:
    if previous_secret and previous_expires_at and previous_expires_at > now:
        return [secret, previous_secret]
    return [secret]


def redeliver(session: Session, merchant_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivered or failed delivery again, now, with a fresh retry window."""
    delivery = session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.merchant_id == merchant_id)
        .with_for_update()
    )
    if delivery is None:
        raise WebhookError("not_found", "no such delivery", 404)
    if delivery.status == "pending":
        raise WebhookError("delivery_pending", "this delivery is still being attempted", 409)
    if not session.get(WebhookEndpoint, delivery.endpoint_id).enabled:
        raise WebhookError("endpoint_disabled", "the endpoint of this delivery is disabled", 409)
    now = now or utcnow()
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.retry_until = now + RETRY_WINDOW
    delivery.delivered_at = None
    session.flush()  # callers read it back through Core
    return delivery


def _endpoint(session: Session, merchant_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.merchant_id == merchant_id)
    )
    if endpoint is None:
        raise WebhookError("not_found", "no such webhook endpoint", 404)
    return endpoint
