"""Request dependencies: the database session and the authenticated caller."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from juhe.api import rate_limits
from juhe.api.errors import ApiError
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.merchants import Principal, authenticate


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as session, session.begin():
        yield session


def get_read_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.reader() as session, session.begin():
        yield session


def get_principal(request: Request, db: Annotated[Database, Depends(get_db)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise ApiError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    with db.reader() as session:
        principal = authenticate(session, secret.strip())
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is not valid or has been revoked")
    request.state.principal = principal  # the audit trail's actor (api/audit_trail.py)
    wait_s = rate_limits.retry_after_s(principal.key_id)
    if wait_s:
        raise ApiError(429, "rate_limited", f"this API key sent more than its rate; retry in {wait_s} s", retry_after_s=wait_s)
    return principal


def require(*roles: str):
    """A dependency that lets through keys with any of `roles` (admin always passes)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has_any(roles):
            raise ApiError(403, "forbidden", f"this needs one of the roles: {', '.join(('admin',) + roles)}")
        return principal

    check.roles = roles  # the OpenAPI document names them (api/openapi.py)
    return check


# scope="function": commit before the response is sent, so a client that got its 201 can read
# what it wrote, and no lock is held while the answer goes out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_db)]


PLATFORM_ACTOR = "platform"


@dataclass(frozen=True, slots=True)
class Caller:
    scope: uuid.UUID | None  # the caller's merchant; None for the platform operator
    actor: str  # recorded in audit trails


def caller(*roles: str):
    """The platform operator's token (JUHE_PLATFORM_TOKEN), or a merchant key with one of
    `roles` (admin always passes). Domains the platform oversees (monitoring, reconciliation,
    AML) take either; everything else is a merchant's own."""

    def resolve(request: Request, db: DatabaseDep) -> Caller:
        token = get_settings().platform_token
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token and hmac.compare_digest(presented.encode(), token.encode()):
            return Caller(None, PLATFORM_ACTOR)
        principal = get_principal(request, db)
        if not principal.has_any(roles):
            raise ApiError(403, "forbidden", f"this needs one of the roles: {', '.join(('admin',) + roles)}")
        return Caller(principal.merchant_id, f"api_key:{principal.key_id}")

    resolve.roles, resolve.platform = roles, True  # the OpenAPI document names them (api/openapi.py)
    return resolve
