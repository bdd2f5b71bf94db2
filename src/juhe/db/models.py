"""Tables. Every row carries `merchant_id` (NULL only for the platform's own accounts), so that
tables can be distributed by merchant. The ledger writes its tables through Core for batch
speed; everything else may use the ORM."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from uuid_utils.compat import uuid7

from juhe.db.types import BigIntPK, UTCDateTime, utcnow


def new_id() -> uuid.UUID:
    # Time-ordered ids keep B-tree inserts local and make id order the creation order.
    return uuid7()


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON(none_as_null=True), list: JSON()}


class Merchant(Base):
    __tablename__ = "merchants"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str] = mapped_column(String(40))  # retail, ecommerce, manufacturing, services
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Store(Base):
    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BusinessLine(Base):
    __tablename__ = "business_lines"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)  # shown in lists, finds the key
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the whole key
    roles: Mapped[list] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Account(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("code", "currency"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(200))  # chart of accounts: payable:{merchant}:{store} …
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))  # asset, liability, equity, revenue, expense
    normal_side: Mapped[str] = mapped_column(String(6))  # debit or credit
    no_overdraft: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_type: Mapped[str | None] = mapped_column(String(20))  # merchant, store, business_line, platform
    owner_id: Mapped[uuid.UUID | None] = mapped_column()
    meta: Mapped[dict] = mapped_column("metadata", default=dict)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerTransaction(Base):
    """kind: posting | hold | capture | void | reversal. status changes only for holds
    (pending → captured | voided | expired); everything else is written once."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (Index("ix_ledger_transactions_merchant_id_id", "merchant_id", "id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    content_hash: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    hold_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ledger_transactions.id"), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict | None] = mapped_column("metadata")
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column()


class LedgerEntry(Base):
    """amount_minor is signed: debit positive, credit negative. Never updated, never deleted."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class IdempotencyRecord(Base):
    """The stored answer to a POST, replayed for the same key and body for at least 24 h."""

    __tablename__ = "idempotency_records"
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


def load_all_models() -> None:
    """Import every domain's tables so that Base.metadata is complete (Alembic, tests)."""
    import juhe.aml.models  # noqa: F401
    import juhe.audit.models  # noqa: F401
    import juhe.bnpl.models  # noqa: F401
    import juhe.console.models  # noqa: F401
    import juhe.einvoice.models  # noqa: F401
    import juhe.installments.models  # noqa: F401
    import juhe.monitor.models  # noqa: F401
    import juhe.orders.models  # noqa: F401
    import juhe.payments.models  # noqa: F401
    import juhe.qrcodes.models  # noqa: F401
    import juhe.receipts.models  # noqa: F401
    import juhe.recon.models  # noqa: F401
    import juhe.risk.models  # noqa: F401
    import juhe.satisfaction.models  # noqa: F401
    import juhe.scf.models  # noqa: F401
    import juhe.settlement.models  # noqa: F401
    import juhe.subscriptions.models  # noqa: F401
    import juhe.trace.models  # noqa: F401
    import juhe.transfers.models  # noqa: F401
    import juhe.treasury.models  # noqa: F401
    import juhe.verification.models  # noqa: F401
    import juhe.webhooks.models  # noqa: F401
