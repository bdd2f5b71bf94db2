"""Merchants, their stores and business lines, and the API keys they act with."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.db.models import ApiKey, BusinessLine, Merchant, Store
from juhe.db.types import utcnow

ROLES = ("admin", "finance", "it", "business", "risk")
INDUSTRIES = ("retail", "ecommerce", "manufacturing", "services")
KEY_PREFIX = "jk_"


class MerchantError(Exception):
    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one merchant, the roles of the key used."""

    merchant_id: uuid.UUID
    key_id: uuid.UUID
    roles: frozenset[str]

    def has_any(self, roles: tuple[str, ...]) -> bool:
        return "admin" in self.roles or bool(self.roles.intersection(roles))


def create_merchant(session: Session, name: str, industry: str) -> Merchant:
    if industry not in INDUSTRIES:
        raise MerchantError("invalid_industry", f"industry must be one of {', '.join(INDUSTRIES)}")
    merchant = Merchant(name=name, industry=industry)
    session.add(merchant)
    session.flush()
    return merchant


def add_store(session: Session, merchant_id: uuid.UUID, code: str, name: str) -> Store:
    return _add_unit(session, Store(merchant_id=merchant_id, code=code, name=name), "store")


def add_business_line(session: Session, merchant_id: uuid.UUID, code: str, name: str) -> BusinessLine:
    return _add_unit(session, BusinessLine(merchant_id=merchant_id, code=code, name=name), "business line")


def _add_unit(session: Session, unit, label: str):
    try:
        with session.begin_nested():
            session.add(unit)
    except IntegrityError:
        raise MerchantError("duplicate_code", f"a {label} with code {unit.code!r} already exists", 409) from None
    return unit


def issue_api_key(
    session: Session, merchant_id: uuid.UUID, name: str, roles: list[str], *, granted_by: Principal | None = None
) -> tuple[ApiKey, str]:
    """Create a key; the secret is returned once and only its hash is stored."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise MerchantError("invalid_roles", f"roles must be a non-empty subset of {', '.join(ROLES)}")
    if granted_by is not None and "admin" not in granted_by.roles and not set(roles) <= granted_by.roles:
        raise MerchantError("forbidden", "a key can only grant roles it has itself", 403)
    prefix = KEY_PREFIX + secrets.token_hex(6)
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(merchant_id=merchant_id, name=name, prefix=prefix, secret_hash=_hash(secret), roles=sorted(set(roles)))
    session.add(key)
    session.flush()
    return key, secret


def authenticate(session: Session, secret: str) -> Principal | None:
    # Keys look like jk_<12 hex>_<secret>; the secret part may itself contain "_".
    prefix = "_".join(secret.split("_", 2)[:2]) if secret.startswith(KEY_PREFIX) else ""
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    # Compare digests in constant time, and only for a key that exists and is live.
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    return Principal(key.merchant_id, key.id, frozenset(key.roles))


def revoke_api_key(session: Session, merchant_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.merchant_id == merchant_id))
    if key is None:
        raise MerchantError("not_found", "no such API key", 404)
    key.revoked_at = key.revoked_at or utcnow()
    return key


def _hash(secret: str) -> str:
    # Keys are 256-bit random, so a fast hash is safe; a slow KDF would only slow every request.
    return hashlib.sha256(secret.encode()).hexdigest()
