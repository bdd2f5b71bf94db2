"""E-invoice tables: a merchant's invoicing settings (the seller, its default goods line, whether
to issue automatically) and the invoices, blue and red-letter."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class InvoiceSettings(Base):
    __tablename__ = "invoice_settings"
    merchant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seller_name: Mapped[str] = mapped_column(String(200))
    seller_tax_id: Mapped[str] = mapped_column(String(18))
    item_name: Mapped[str] = mapped_column(String(100))  # e.g. *日用杂品*日用百货
    tax_category_code: Mapped[str] = mapped_column(String(19))
    tax_rate_bps: Mapped[int] = mapped_column(Integer)
    auto_issue: Mapped[bool] = mapped_column(Boolean, default=False)  # every succeeded payment, to an individual buyer
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Invoice(Base):
    """`blue_for` is "payment:<id>" or "order:<id>" on a blue invoice (unique: one each) and
    empty on a red one, which names its `original_id` instead."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_merchant_id_id", "merchant_id", "id"), Index("ix_invoices_original_id", "original_id"),
                      Index("ix_invoices_payment_id", "payment_id"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(4))  # blue, red
    status: Mapped[str] = mapped_column(String(8))  # issuing, issued
    blue_for: Mapped[str | None] = mapped_column(String(48), unique=True)
    payment_id: Mapped[uuid.UUID | None] = mapped_column()
    order_id: Mapped[uuid.UUID | None] = mapped_column()
    refund_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    original_id: Mapped[uuid.UUID | None] = mapped_column()
    request_no: Mapped[str] = mapped_column(String(32), unique=True)  # our serial at the tax platform: a retry issues once
    number: Mapped[str | None] = mapped_column(String(20), unique=True)  # 发票号码, given by the tax platform
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_tax_id: Mapped[str | None] = mapped_column(String(18))
    seller_name: Mapped[str] = mapped_column(String(200))
    seller_tax_id: Mapped[str] = mapped_column(String(18))
    lines: Mapped[list] = mapped_column()
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # without tax (negative on a red one)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    requested_by: Mapped[str] = mapped_column(String(64))  # payer, merchant, auto
    issued_at: Mapped[datetime | None] = mapped_column()
    leaf_index: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
