"""Payment tables: intents, their channel attempts, the timeline, refunds, inbound notifications,
and the merchant's channel contracts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import BigIntPK
from juhe.db.types import utcnow


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("merchant_id", "idempotency_key"),
        Index("ix_payments_merchant_id_id", "merchant_id", "id"),
        Index("ix_payments_status_next_poll_at", "status", "next_poll_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    business_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("business_lines.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    scenario: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(32))  # None: a merchant's sale; else payments/purposes.py
    subject: Mapped[str] = mapped_column(String(256))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str | None] = mapped_column(String(20))
    active_attempt_id: Mapped[uuid.UUID | None] = mapped_column()
    channel_order_no: Mapped[str | None] = mapped_column(String(32))
    routing: Mapped[dict | None] = mapped_column()
    next_action: Mapped[dict | None] = mapped_column()
    risk: Mapped[dict | None] = mapped_column()
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    channel_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_txn_id: Mapped[uuid.UUID | None] = mapped_column()
    meta: Mapped[dict | None] = mapped_column("metadata")
    expires_at: Mapped[datetime] = mapped_column()
    next_poll_at: Mapped[datetime | None] = mapped_column()
    poll_count: Mapped[int] = mapped_column(Integer, default=0)
    paid_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PaymentAttempt(Base):
    """One order at one channel, under its own order number, so that a failover to another
    channel, or a retry, never reuses an order number."""

    __tablename__ = "payment_attempts"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # creating, pending, succeeded, failed, closed, abandoned
    channel_txn_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PaymentEvent(Base):
    """The timeline: every transition with its cause."""

    __tablename__ = "payment_events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    cause: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("merchant_id", "idempotency_key"), Index("ix_refunds_status_next_poll_at", "status", "next_poll_at"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    attempt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_attempts.id"))
    refund_no: Mapped[str] = mapped_column(String(32), unique=True)  # the channel's refund number
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(12))  # pending, succeeded, failed
    channel_refund_id: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    ledger_txn_id: Mapped[uuid.UUID | None] = mapped_column()
    next_poll_at: Mapped[datetime | None] = mapped_column()
    poll_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelNotification(Base):
    """Every inbound channel notification, verified or not: the audit trail of what came in."""

    __tablename__ = "channel_notifications"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    order_no: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(40))  # applied, duplicate, bad_signature, unknown_order …
    detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class MerchantChannel(Base):
    """A merchant's contract with a channel: whether it may be used, and at what fee."""

    __tablename__ = "merchant_channels"
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    merchant_fee_bps: Mapped[int] = mapped_column(Integer)  # what Juhe charges the merchant
    channel_fee_bps: Mapped[int] = mapped_column(Integer)  # what the channel charges Juhe
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower is preferred
    max_amount_minor: Mapped[int | None] = mapped_column(BigInteger)


class PosTerminal(Base):
    """A store terminal registered with Juhe's terminal gateway, and the MAC key it signs with."""

    __tablename__ = "pos_terminals"
    terminal_id: Mapped[str] = mapped_column(String(8), primary_key=True)  # field 41
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    mac_key: Mapped[bytes] = mapped_column(LargeBinary(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelHealthReport(Base):
    """One process's view of a channel's recent calls, shared every few seconds so that every
    API process routes on what all of them saw (`juhe.payments.health`)."""

    __tablename__ = "channel_health_reports"
    process_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    successes: Mapped[int] = mapped_column(Integer)
    calls: Mapped[int] = mapped_column(Integer)
    open_until: Mapped[datetime | None] = mapped_column()
    reported_at: Mapped[datetime] = mapped_column(index=True)
