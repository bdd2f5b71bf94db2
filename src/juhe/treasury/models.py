"""FX quotes a merchant took from a channel's FX desk, kept so a payment can name one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base
from juhe.db.types import utcnow


class FxQuote(Base):
    __tablename__ = "fx_quotes"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the desk's quote id
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    sell_currency: Mapped[str] = mapped_column(String(3))
    buy_currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[str] = mapped_column(String(40))  # a Decimal, kept as text so no digit is lost
    spread_bps: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
