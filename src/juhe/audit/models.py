"""Audit tables: the records, each chained to the one before by its hash, and the chain's head
(one row every writer locks, so the chain has one order)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base
from juhe.db.types import utcnow


class AuditRecord(Base):
    """Append-only. `hash` = SHA-256(previous hash ‖ canonical JSON of this record's fields)."""

    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_merchant_id_id", "merchant_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # the place in the chain, from 1
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()  # None: the platform's own
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(80))  # api_key:<id>, platform, cli:<user>
    action: Mapped[str] = mapped_column(String(120))  # "POST /v1/accounts", "settle.fee-schedule"
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(80))  # succeeded | failed:<code>
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    origin: Mapped[str] = mapped_column(String(120))  # api:<client ip>, cli:<host>
    detail: Mapped[dict | None] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The newest record's place and hash: deleting the newest rows is caught against it."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
