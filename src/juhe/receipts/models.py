"""The receipts table: one row per succeeded payment or refund, with the link's token and the
leaf of the receipt's record in the Merkle log."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("kind", "object_id"), Index("ix_receipts_merchant_id_id", "merchant_id", "id"),
                      Index("ix_receipts_payment_id", "payment_id"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(8))  # payment, refund
    object_id: Mapped[uuid.UUID] = mapped_column()  # the payment's or the refund's id
    payment_id: Mapped[uuid.UUID] = mapped_column()
    # The link's secret (a capability, as a receipt URL is): 256 random bits, never in the log.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    leaf_index: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
