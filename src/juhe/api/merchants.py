"""The merchant itself, its stores and business lines, and its API keys."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field
from sqlalchemy import select

from juhe import merchants
from juhe.api.deps import ReadSessionDep, SessionDep, get_principal, require
from juhe.aml.payment_screening import screen_merchant
from juhe.api.errors import ApiError
from juhe.config import get_settings
from juhe.db.models import ApiKey, BusinessLine, Merchant, Store
from juhe.merchants import Principal

router = APIRouter(prefix="/v1", tags=["merchants"])
Anyone = Annotated[Principal, Depends(get_principal)]
KeyManager = Annotated[Principal, Depends(require("it"))]
UnitManager = Annotated[Principal, Depends(require("business"))]


class MerchantIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    industry: str = Field(examples=list(merchants.INDUSTRIES))


class UnitIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1, examples=[["finance"]])


def merchant_view(m: Merchant) -> dict:
    return {"id": str(m.id), "name": m.name, "industry": m.industry, "created_at": m.created_at.isoformat()}


def unit_view(u: Store | BusinessLine) -> dict:
    return {"id": str(u.id), "code": u.code, "name": u.name, "created_at": u.created_at.isoformat()}


def key_view(k: ApiKey) -> dict:
    return {"id": str(k.id), "name": k.name, "prefix": k.prefix, "roles": k.roles, "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}


@router.post("/merchants", status_code=201)
def create_merchant(body: MerchantIn, session: SessionDep, authorization: str = Header("")) -> dict:
    """Platform operators only (JUHE_PLATFORM_TOKEN): a merchant and its first admin key."""
    token = get_settings().platform_token
    presented = authorization.removeprefix("Bearer ").strip().encode()
    if not presented:  # no credentials at all is a 401, as everywhere else
        raise ApiError(401, "unauthorized", "send the platform operator token as 'Authorization: Bearer <token>'")
    if not token or not hmac.compare_digest(presented, token.encode()):
        raise ApiError(403, "forbidden", "creating merchants needs the platform operator token")
    merchant = merchants.create_merchant(session, body.name, body.industry)
    key, secret = merchants.issue_api_key(session, merchant.id, "first admin key", ["admin"])
    screening = screen_merchant(session, merchant)  # onboarding: a hit is for compliance to review (/v1/aml/screenings)
    return {**merchant_view(merchant), "admin_api_key": {**key_view(key), "secret": secret},
            "screening": {"id": str(screening.screening_id), "held": screening.hold}}


@router.get("/merchant")
def get_merchant(principal: Anyone, session: ReadSessionDep) -> dict:
    return merchant_view(session.get(Merchant, principal.merchant_id))


@router.post("/stores", status_code=201)
def add_store(body: UnitIn, principal: UnitManager, session: SessionDep) -> dict:
    return unit_view(merchants.add_store(session, principal.merchant_id, body.code, body.name))


@router.get("/stores")
def list_stores(principal: Anyone, session: ReadSessionDep) -> dict:
    rows = session.scalars(select(Store).where(Store.merchant_id == principal.merchant_id).order_by(Store.code))
    return {"data": [unit_view(s) for s in rows]}


@router.post("/business-lines", status_code=201)
def add_business_line(body: UnitIn, principal: UnitManager, session: SessionDep) -> dict:
    return unit_view(merchants.add_business_line(session, principal.merchant_id, body.code, body.name))


@router.get("/business-lines")
def list_business_lines(principal: Anyone, session: ReadSessionDep) -> dict:
    rows = session.scalars(
        select(BusinessLine).where(BusinessLine.merchant_id == principal.merchant_id).order_by(BusinessLine.code)
    )
    return {"data": [unit_view(b) for b in rows]}


@router.post("/api-keys", status_code=201)
def issue_key(body: ApiKeyIn, principal: KeyManager, session: SessionDep) -> dict:
    """The secret is in this answer only; Juhe keeps a hash."""
    key, secret = merchants.issue_api_key(session, principal.merchant_id, body.name, body.roles, granted_by=principal)
    return {**key_view(key), "secret": secret}


@router.get("/api-keys")
def list_keys(principal: KeyManager, session: ReadSessionDep) -> dict:
    rows = session.scalars(select(ApiKey).where(ApiKey.merchant_id == principal.merchant_id).order_by(ApiKey.created_at))
    return {"data": [key_view(k) for k in rows]}


@router.delete("/api-keys/{key_id}")
def revoke_key(key_id: uuid.UUID, principal: KeyManager, session: SessionDep) -> dict:
    return key_view(merchants.revoke_api_key(session, principal.merchant_id, key_id))
