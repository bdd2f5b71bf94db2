"""Aggregated QR codes: static ones a store prints (fixed or open amount), dynamic ones a till
shows for exactly one order."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class QrCode(Base):
    __tablename__ = "qr_codes"
    __table_args__ = (Index("ix_qr_codes_merchant_id_store_id", "merchant_id", "store_id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"))
    kind: Mapped[str] = mapped_column(String(8))  # static, dynamic
    token: Mapped[str] = mapped_column(String(32), unique=True)  # in the printed URL; unguessable
    label: Mapped[str] = mapped_column(String(64))  # the checkout it stands at, e.g. "Till 2"
    subject: Mapped[str] = mapped_column(String(128))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # None: the payer enters the amount
    currency: Mapped[str] = mapped_column(String(3))
    expires_at: Mapped[datetime | None] = mapped_column()  # dynamic codes only
    # Dynamic codes: the payment now started on the code, and a counter each new start claims,
    # so that two wallets scanning at once cannot both start a payment of the same order.
    payment_id: Mapped[uuid.UUID | None] = mapped_column()
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
