"""Settlement tables: fee schedules, merchants' settlement profiles, runs, batches with their
items and holds, releases of unreconciled items, payout files, and reserve-fund proofs."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow
from juhe.pii.orm import SealedColumn, protect, sealed_bytes_column
from juhe.payments import models as _payments  # noqa: F401 -- the tables referenced below


class FeeScheduleRow(Base):
    """A merchant's fee schedule on one channel from `effective_from` on; later rows supersede
    earlier ones, which stay as the record of what was charged before."""

    __tablename__ = "fee_schedules"
    __table_args__ = (UniqueConstraint("merchant_id", "channel", "effective_from"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    channel: Mapped[str] = mapped_column(String(20))
    effective_from: Mapped[datetime] = mapped_column()
    definition: Mapped[dict] = mapped_column()  # juhe.settlement.fees, validated on write
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementProfile(Base):
    __tablename__ = "settlement_profiles"
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    cycle: Mapped[str] = mapped_column(String(4))  # T+0, T+1, T+3
    split_by: Mapped[str] = mapped_column(String(10))  # merchant, store, line
    timezone: Mapped[str] = mapped_column(String(64))
    cutoff: Mapped[str] = mapped_column(String(5))  # HH:MM local; 00:00 = the calendar day
    payout_name: Mapped[str] = mapped_column(SealedColumn())
    payout_account: Mapped[str] = mapped_column(SealedColumn())  # IBAN or domestic account number
    payout_bank: Mapped[str] = mapped_column(String(16))  # BIC or CNAPS bank code
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SettlementRun(Base):
    """One merchant's settlement of one date; unique, so a rerun of the date does nothing."""

    __tablename__ = "settlement_runs"
    __table_args__ = (UniqueConstraint("merchant_id", "settlement_date"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    settlement_date: Mapped[date] = mapped_column(Date)
    due_through: Mapped[date] = mapped_column(Date)  # the last business date it covered
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementBatch(Base):
    """What one merchant, store or business line is paid for a settlement date: one transfer.

    status: carried_forward (net not positive: nothing paid, items wait), nil (items net to
    zero: closed without a transfer), held (amount held, no file yet), submitted (in a payout
    file), paid, rejected (holds voided, items free to settle again)."""

    __tablename__ = "settlement_batches"
    __table_args__ = (
        UniqueConstraint("merchant_id", "settlement_date", "group_key", "currency"),
        Index("ix_settlement_batches_merchant_id_id", "merchant_id", "id"),
        Index("ix_settlement_batches_status", "status"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlement_runs.id"), index=True)
    settlement_date: Mapped[date] = mapped_column(Date)
    group_key: Mapped[str] = mapped_column(String(64))  # merchant | store:{id} | line:{id}
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    business_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("business_lines.id"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    gross_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)  # paid out (or carried, when not positive)
    item_count: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)  # what was carried forward and why
    end_to_end_id: Mapped[str | None] = mapped_column(String(35), unique=True)
    payout_file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payout_files.id"), index=True)
    creditor_name: Mapped[str] = mapped_column(SealedColumn())
    creditor_account: Mapped[str] = mapped_column(SealedColumn())
    creditor_bank: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(8))
    reason_text: Mapped[str | None] = mapped_column(Text)
    bank_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SettlementHold(Base):
    """The part of a batch held on one payable account (a merchant-wide batch may draw on its
    stores' and lines' payables): captured when the bank pays, voided when it rejects."""

    __tablename__ = "settlement_holds"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    payable_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transactions.id"))


class SettlementItem(Base):
    """A payment or refund in a batch. `claim_key` ("payment:{id}" / "refund:{id}") is unique
    while the item is claimed: the database refuses to settle anything twice. A rejected
    payout clears it, so the item settles again later; the row stays as the record."""

    __tablename__ = "settlement_items"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlement_batches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # payment | refund
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"))
    claim_key: Mapped[str | None] = mapped_column(String(48), unique=True)
    business_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    gross_minor: Mapped[int] = mapped_column(BigInteger)  # signed: a refund is negative
    fee_minor: Mapped[int] = mapped_column(BigInteger)  # signed: a fee given back is negative
    net_minor: Mapped[int] = mapped_column(BigInteger)  # gross − fee
    payable_account_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementRelease(Base):
    """Finance lets an unreconciled payment or refund settle: who, why, when."""

    __tablename__ = "settlement_releases"
    __table_args__ = (UniqueConstraint("kind", "source_id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"))
    source_id: Mapped[uuid.UUID] = mapped_column()  # the payment's or the refund's id
    reason: Mapped[str] = mapped_column(Text)
    released_by: Mapped[str] = mapped_column(String(64))  # api key id, or cli:<user>
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PayoutFile(Base):
    """One pain.001 per merchant and filing: a credit transfer per batch, kept as sent."""

    __tablename__ = "payout_files"
    __table_args__ = (Index("ix_payout_files_status_next_poll_at", "status", "next_poll_at"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    msg_id: Mapped[str] = mapped_column(String(35), unique=True)
    status: Mapped[str] = mapped_column(String(12))  # submitted, completed, rejected
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    transfer_count: Mapped[int] = mapped_column(Integer)
    document: Mapped[bytes] = sealed_bytes_column()  # names and accounts of every payee
    reason: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None] = mapped_column()
    poll_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReserveProofRow(Base):
    """The daily customer reserve-fund (备付金) proof for one currency; a rerun replaces it."""

    __tablename__ = "reserve_proofs"
    __table_args__ = (UniqueConstraint("day", "currency"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()  # NULL: the platform's own record
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    reserve_account: Mapped[str] = mapped_column(String(200))
    statement_id: Mapped[str] = mapped_column(String(64))
    liabilities_minor: Mapped[int] = mapped_column(BigInteger)
    in_transit_minor: Mapped[int] = mapped_column(BigInteger)
    ledger_reserve_minor: Mapped[int] = mapped_column(BigInteger)
    bank_balance_minor: Mapped[int] = mapped_column(BigInteger)
    difference_minor: Mapped[int] = mapped_column(BigInteger)
    coverage_minor: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


protect(SettlementProfile, "payout_name", "payout_account")
protect(SettlementBatch, "creditor_name", "creditor_account")
protect(PayoutFile, "document")
