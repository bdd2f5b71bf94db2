"""Reconciliation results that other domains read: one row per payment or refund of ours that
a reconciliation run has judged. Settlement pays out only what is `matched` here (or released
by finance)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import BigIntPK, utcnow
from juhe.payments import models as _payments  # noqa: F401 -- the tables referenced below

KINDS = ("payment", "refund")
MATCHED = "matched"


class ReconItem(Base):
    __tablename__ = "recon_items"
    __table_args__ = (
        UniqueConstraint("kind", "payment_id", "refund_id"),
        # NULLs are distinct in a UNIQUE constraint (SQLite and PostgreSQL alike), so a payment's
        # own row (refund_id NULL) needs its own partial index to be unique.
        Index("uq_recon_items_payment", "kind", "payment_id", unique=True,
              sqlite_where=text("refund_id IS NULL"), postgresql_where=text("refund_id IS NULL")),
        Index("ix_recon_items_merchant_id_business_date", "merchant_id", "business_date"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    channel: Mapped[str] = mapped_column(String(20))
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))  # payment | refund
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"))
    category: Mapped[str] = mapped_column(String(24))  # juhe.recon.frames.CATEGORIES
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReconRun(Base):
    """One reconciliation of one channel's statement for one business date. A statement covers
    Juhe's account at the channel, so a run is the platform's (merchant_id NULL); its cases
    carry the merchant they concern."""

    __tablename__ = "recon_runs"
    __table_args__ = (UniqueConstraint("channel", "business_date"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    channel: Mapped[str] = mapped_column(String(20))
    business_date: Mapped[date] = mapped_column(Date)
    statement_sha256: Mapped[str] = mapped_column(String(64))
    statement_lines: Mapped[int] = mapped_column()
    summary: Mapped[dict] = mapped_column()  # counts and amounts per category and currency
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReconCase(Base):
    """A discrepancy that could not be proven away: finance owns it until it is resolved."""

    __tablename__ = "recon_cases"
    __table_args__ = (Index("ix_recon_cases_merchant_id_status", "merchant_id", "status"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()  # NULL: a line of no merchant we know
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recon_runs.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    business_date: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(24))
    kind: Mapped[str | None] = mapped_column(String(10))
    order_no: Mapped[str | None] = mapped_column(String(64))
    refund_no: Mapped[str | None] = mapped_column(String(64))
    payment_id: Mapped[uuid.UUID | None] = mapped_column()
    channel_txn_id: Mapped[str | None] = mapped_column(String(64))
    line_no: Mapped[int | None] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))
    ours_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    channel_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    ours_fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    channel_fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # open, auto_resolved, adjusted, written_off
    owner: Mapped[str] = mapped_column(String(64), default="finance")
    resolution: Mapped[str | None] = mapped_column(Text)
    ledger_txn_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReconCaseEvent(Base):
    """The audit trail of a case: every comment, assignment and resolution, with who and when."""

    __tablename__ = "recon_case_events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recon_cases.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(24))  # opened, comment, assigned, auto_resolved, adjusted, written_off
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
