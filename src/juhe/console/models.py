"""Console users (a password, one role, one merchant or the platform operator) and their sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow
from juhe.pii.orm import SealedColumn, protect


class ConsoleUser(Base):
    __tablename__ = "console_users"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merchants.id"), index=True)  # None: platform operator
    login: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(SealedColumn())  # a person's name
    role: Mapped[str] = mapped_column(String(20))  # finance, it, business, risk, admin, operator
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, with its parameters
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # in a row; a success resets it
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """The cookie holds the token; only its SHA-256 is stored, so a leaked table opens no session."""

    __tablename__ = "console_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("console_users.id"), index=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


protect(ConsoleUser, "name")
