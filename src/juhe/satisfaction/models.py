"""One rating per payment, with the store, channel and scenario it is counted under (copied from
the payment when rated, so that the figures group without joins)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class SatisfactionRating(Base):
    __tablename__ = "satisfaction_ratings"
    __table_args__ = (Index("ix_satisfaction_ratings_merchant_created", "merchant_id", "created_at"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), unique=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column()
    channel: Mapped[str | None] = mapped_column(String(20))
    scenario: Mapped[str] = mapped_column(String(32))  # the payment's purpose when it has one, else its scenario
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
