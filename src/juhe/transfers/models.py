"""A batch of outgoing transfers and its items; each item holds its amount in the ledger
until the bank's status report settles (capture) or rejects (void) it."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow
from juhe.pii.orm import SealedColumn, protect, sealed_bytes_column


class TransferBatch(Base):
    __tablename__ = "transfer_batches"
    __table_args__ = (UniqueConstraint("merchant_id", "idempotency_key"), Index("ix_transfer_batches_status_next_poll_at", "status", "next_poll_at"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    batch_no: Mapped[str] = mapped_column(String(35), unique=True)  # the pain.001 MsgId
    status: Mapped[str] = mapped_column(String(12))  # submitted, completed, rejected
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    item_count: Mapped[int] = mapped_column(Integer)
    category_purpose: Mapped[str | None] = mapped_column(String(4))
    document: Mapped[bytes] = sealed_bytes_column()  # the pain.001 exactly as sent (it names every creditor)
    reason: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None] = mapped_column()
    poll_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TransferItem(Base):
    __tablename__ = "transfer_items"
    __table_args__ = (UniqueConstraint("batch_id", "end_to_end_id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfer_batches.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    end_to_end_id: Mapped[str] = mapped_column(String(35))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    creditor_name: Mapped[str] = mapped_column(SealedColumn())
    creditor_account: Mapped[str] = mapped_column(SealedColumn())
    creditor_account_index: Mapped[str | None] = mapped_column(String(32), index=True)  # blind index: finds and groups an account
    creditor_bank: Mapped[str | None] = mapped_column(String(16))
    remittance_info: Mapped[str] = mapped_column(String(140), default="")
    execution_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))  # pending, settled, rejected
    reason_code: Mapped[str | None] = mapped_column(String(8))
    reason_text: Mapped[str | None] = mapped_column(Text)
    bank_ref: Mapped[str | None] = mapped_column(String(64))
    hold_id: Mapped[uuid.UUID] = mapped_column()


protect(TransferBatch, "document")
protect(TransferItem, "creditor_name", "creditor_account", index={"creditor_account": ("creditor_account_index", "account")})
