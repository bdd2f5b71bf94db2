"""Installment plans a merchant offers on a channel, and each installment sale's quoted terms."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class InstallmentPlan(Base):
    __tablename__ = "installment_plans"
    __table_args__ = (Index("ix_installment_plans_merchant_id_id", "merchant_id", "id"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    channel: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(128))
    fee_bearer: Mapped[str] = mapped_column(String(8))  # payer, merchant (免息)
    # [{"periods": 3, "fee_rate_per_period": "0.006"}, …]: rates as decimal strings, never floats
    options: Mapped[list] = mapped_column()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstallmentSale(Base):
    """The terms quoted to the payer, fixed before the channel is asked, keyed like the payment
    (merchant + Idempotency-Key) so that its booking finds them even when the channel answers
    paid at once (card present)."""

    __tablename__ = "installment_sales"
    __table_args__ = (UniqueConstraint("merchant_id", "idempotency_key"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("installment_plans.id"))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(20))
    periods: Mapped[int] = mapped_column(Integer)
    fee_bearer: Mapped[str] = mapped_column(String(8))
    fee_rate_per_period: Mapped[str] = mapped_column(String(16))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    payer_fee_minor: Mapped[int] = mapped_column(BigInteger)
    merchant_fee_minor: Mapped[int] = mapped_column(BigInteger)  # taken from the merchant's proceeds
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(8))  # quoted, booked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
