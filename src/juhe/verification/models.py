"""Verification tables: one challenge per stepped-up payment, payers' authenticator secrets, and
their password-free limits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow
from juhe.pii.orm import SealedColumn, protect


class VerificationChallenge(Base):
    __tablename__ = "verification_challenges"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), unique=True)
    methods: Mapped[list] = mapped_column()  # ["otp"] or ["otp", "face"]
    otp_channel: Mapped[str] = mapped_column(String(8))  # totp (the payer's app) or sms
    sms_secret: Mapped[str | None] = mapped_column(String(32))  # base32; the SMS code is TOTP of it, 5-minute steps
    phone: Mapped[str | None] = mapped_column(SealedColumn())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10))  # pending, passed, locked
    request: Mapped[dict] = mapped_column()  # how to send the payment on once verified
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PayerAuthenticator(Base):
    """A payer's TOTP secret, enrolled in an authenticator app (RFC 6238)."""

    __tablename__ = "payer_authenticators"
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PayerLimitRow(Base):
    """A payer's password-free (免密) limit: what they may pay without a password or code."""

    __tablename__ = "payer_limits"
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    limit_minor: Mapped[int] = mapped_column(BigInteger)
    good_streak: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


protect(VerificationChallenge, "phone")
