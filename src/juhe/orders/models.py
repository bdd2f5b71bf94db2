"""B2B orders: the buyer (a company with its credit code), the lines, and the invoice and
payment the order was settled with, each with the leaf of its record in the log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class B2bOrder(Base):
    __tablename__ = "b2b_orders"
    __table_args__ = (UniqueConstraint("merchant_id", "order_no"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    order_no: Mapped[str] = mapped_column(String(64))
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_tax_id: Mapped[str] = mapped_column(String(18))
    lines: Mapped[list] = mapped_column()  # tax.Line.to_json() of each
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))  # open, invoiced, paid
    invoice_id: Mapped[uuid.UUID | None] = mapped_column()
    payment_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    leaf_index: Mapped[int] = mapped_column(BigInteger)  # the order's own record
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
