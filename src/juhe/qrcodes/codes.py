"""Issuing aggregated QR codes and finding the one a payer scanned."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.models import Store
from juhe.db.types import utcnow
from juhe.ledger.rules import AMOUNT_MAX
from juhe.money import Money, MoneyError, check_currency
from juhe.payments.service import PaymentError
from juhe.qrcodes.models import QrCode

KINDS = ("static", "dynamic")
DYNAMIC_TTL_DEFAULT = timedelta(minutes=5)  # a till's code is for the payer at the counter now
DYNAMIC_TTL_MAX = timedelta(days=1)
DYNAMIC_TTL_MIN = timedelta(seconds=60)
CODES_LISTED_MAX = 200


class QrCodeError(PaymentError):
    """A refused code or scan; a payments error, answered as problem+json with its code."""


def create_code(session: Session, merchant_id: uuid.UUID, store_id: uuid.UUID, *, kind: str, label: str, subject: str,
                amount_minor: int | None, currency: str, expires_in_s: int | None) -> QrCode:
    store = session.get(Store, store_id)
    if store is None or store.merchant_id != merchant_id:
        raise QrCodeError(404, "store_not_found", f"no store {store_id}")
    if kind not in KINDS:
        raise QrCodeError(422, "invalid_kind", f"kind must be one of {', '.join(KINDS)}")
    check_currency(currency)
    if amount_minor is not None and not 0 < amount_minor <= AMOUNT_MAX:
        raise QrCodeError(422, "invalid_amount", "amount_minor must be positive")
    if kind == "dynamic" and amount_minor is None:
        raise QrCodeError(422, "amount_required", "a dynamic code pays one order: give its amount_minor")
    code = QrCode(
        id=uuid.uuid4(), merchant_id=merchant_id, store_id=store_id, kind=kind, token=secrets.token_urlsafe(18),
        label=label, subject=subject or store.name, amount_minor=amount_minor, currency=currency,
        expires_at=_expiry(kind, expires_in_s), generation=0, created_at=utcnow(),
    )
    session.add(code)
    session.flush()
    return code


def _expiry(kind: str, expires_in_s: int | None) -> datetime | None:
    if kind == "static":
        if expires_in_s is not None:
            raise QrCodeError(422, "invalid_expiry", "a static code does not expire; expires_in_s is for dynamic codes")
        return None
    ttl = timedelta(seconds=expires_in_s) if expires_in_s is not None else DYNAMIC_TTL_DEFAULT
    if not DYNAMIC_TTL_MIN <= ttl <= DYNAMIC_TTL_MAX:
        raise QrCodeError(422, "invalid_expiry", "expires_in_s must be between 60 and 86,400")
    return utcnow() + ttl


def own_code(session: Session, merchant_id: uuid.UUID, code_id: uuid.UUID) -> QrCode:
    code = session.get(QrCode, code_id)
    if code is None or code.merchant_id != merchant_id:
        raise QrCodeError(404, "qr_code_not_found", f"no QR code {code_id}")
    return code


def store_codes(session: Session, merchant_id: uuid.UUID, store_id: uuid.UUID) -> list[QrCode]:
    store = session.get(Store, store_id)
    if store is None or store.merchant_id != merchant_id:
        raise QrCodeError(404, "store_not_found", f"no store {store_id}")
    query = (select(QrCode).where(QrCode.merchant_id == merchant_id, QrCode.store_id == store_id)
             .order_by(QrCode.id.desc()).limit(CODES_LISTED_MAX))
    return list(session.scalars(query))


def scanned(session: Session, token: str, *, for_update: bool = False) -> QrCode:
    query = select(QrCode).where(QrCode.token == token)
    code = session.scalar(query.with_for_update() if for_update else query)
    if code is None:
        raise QrCodeError(404, "qr_code_not_found", "this code is not known; ask the store for a new one")
    return code


def check_live(code: QrCode, paid_status: str | None) -> None:
    """A dynamic code pays one order once, before it expires. `paid_status`: its last payment's status."""
    if code.kind != "dynamic":
        return
    if paid_status == "succeeded":
        raise QrCodeError(409, "qr_code_used", "this order is paid already")
    if code.expires_at is not None and code.expires_at <= utcnow():
        raise QrCodeError(410, "qr_code_expired", "this code has expired; ask the till for a new one")


def amount_to_pay(code: QrCode, entered: str | None) -> Money:
    """The fixed amount of the code, or what the payer entered (yuan, e.g. "12.34")."""
    if code.amount_minor is not None:
        return Money(code.amount_minor, code.currency)
    try:
        amount = Money.parse(entered or "", code.currency)
    except MoneyError as exc:
        raise QrCodeError(422, "invalid_amount", f"enter the amount to pay, e.g. 12.34 ({exc})") from None
    if not 0 < amount.amount_minor <= AMOUNT_MAX:
        raise QrCodeError(422, "invalid_amount", "the amount must be positive")
    return amount


def code_status(code: QrCode, paid_status: str | None) -> str:
    if code.kind == "static":
        return "active"
    if paid_status == "succeeded":
        return "used"
    return "expired" if code.expires_at is not None and code.expires_at <= utcnow() else "active"


def code_view(code: QrCode, public_base_url: str, api_base_url: str, paid_status: str | None = None) -> dict:
    amount = Money(code.amount_minor, code.currency).to_json() if code.amount_minor is not None else None
    files = f"{api_base_url}/v1/qr-codes/{code.id}"
    return {
        "id": str(code.id), "store_id": str(code.store_id), "kind": code.kind, "label": code.label,
        "subject": code.subject, "amount": amount, "currency": code.currency, "status": code_status(code, paid_status),
        "url": landing_url(code, public_base_url), "png_url": f"{files}.png", "svg_url": f"{files}.svg",
        "pdf_url": f"{files}.pdf", "payment_id": str(code.payment_id) if code.payment_id else None,
        "expires_at": code.expires_at.isoformat() if code.expires_at else None, "created_at": code.created_at.isoformat(),
    }


def landing_url(code: QrCode, public_base_url: str) -> str:
    return f"{public_base_url}/q/{code.token}"
