"""BNPL tables: a credit line per payer, orders approved against it, their installments and the
repayments that pay them off. What a payer owes is kept here per order and installment; the
money itself is in the ledger (`receivable:bnpl`), and the two always agree (`bnpl.service.exposure`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class BnplLine(Base):
    """One payer's credit line at one merchant. `held_minor` is approved but not yet captured,
    `owed_minor` captured and not yet repaid or written off; both count against the limit."""

    __tablename__ = "bnpl_lines"
    __table_args__ = (UniqueConstraint("merchant_id", "customer_id", "currency"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))  # active, declined, suspended (after a default)
    limit_minor: Mapped[int] = mapped_column(BigInteger)
    held_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    owed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    decision: Mapped[dict] = mapped_column()  # the history it was decided from, and why
    decided_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BnplOrder(Base):
    """approved (held on the line and in the ledger) → captured (merchant paid, the payer owes)
    → repaid | defaulted; an approval can also be canceled or expire."""

    __tablename__ = "bnpl_orders"
    __table_args__ = (
        UniqueConstraint("merchant_id", "idempotency_key"),
        Index("ix_bnpl_orders_merchant_id_id", "merchant_id", "id"),
        Index("ix_bnpl_orders_status_review_at", "status", "review_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bnpl_lines.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(256))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # approved
    installments: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    principal_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # captured
    fees_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # late fees charged
    repaid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # repayments in flight
    written_off_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    merchant_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    hold_txn_id: Mapped[uuid.UUID] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()  # an approval not captured by then lapses
    review_at: Mapped[datetime | None] = mapped_column()  # when the worker has something to do next
    captured_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BnplInstallment(Base):
    __tablename__ = "bnpl_installments"
    __table_args__ = (UniqueConstraint("order_id", "seq"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bnpl_orders.id"))
    seq: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column()
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    late_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # fee first, then principal
    reminders: Mapped[list] = mapped_column(default=list)  # dunning stages already sent
    paid_at: Mapped[datetime | None] = mapped_column()


class BnplRepayment(Base):
    """A repayment is a payment (purpose `bnpl_repayment`) through the payments core; its amount
    is reserved on the order when it is created, so that repayments in flight can never add up
    to more than is owed."""

    __tablename__ = "bnpl_repayments"
    __table_args__ = (UniqueConstraint("merchant_id", "idempotency_key"), Index("ix_bnpl_repayments_status", "status"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bnpl_orders.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))  # pending, succeeded, failed
    payment_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column()
