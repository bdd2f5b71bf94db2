"""Risk state shared by every API process and worker (juhe.risk.dbstore, juhe.risk.activation).

Velocity is kept in time buckets, not one row per payment: a read is a handful of indexed rows
whatever the traffic, a write is one upsert per bucket. Risk keys are platform-wide on purpose
(a card tested at many merchants must add up), so these rows carry no merchant_id: with Citus
they would be reference-free tables of their own, distributed by `key`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, SmallInteger, String,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class RiskVelocityBucket(Base):
    """Attempts of one key in one bucket of `grain_s` seconds starting at `bucket_s` (unix).
    Keys busy enough to be hot rows (a merchant) are spread over `shard`s; a read sums them."""

    __tablename__ = "risk_velocity_buckets"
    __table_args__ = (Index("ix_risk_velocity_buckets_bucket_s", "bucket_s"),)  # the worker's purge of old buckets
    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # "<kind>|<key>|<currency>"
    grain_s: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket_s: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)
    sum_minor: Mapped[int] = mapped_column(BigInteger)


class RiskDevicePayer(Base):
    """A payer seen on a device, and when last: distinct payers per device over 24 h."""

    __tablename__ = "risk_device_payers"
    __table_args__ = (Index("ix_risk_device_payers_device_seen", "device_id", "last_seen_s"),)
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    payer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_seen_s: Mapped[int] = mapped_column(BigInteger)


class RiskPayerProfile(Base):
    """What a payer's successful payments taught: known devices, cards, regions (most recent
    last), recent amounts per currency, payments per local hour, the last place."""

    __tablename__ = "risk_payer_profiles"
    payer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    first_seen_at: Mapped[datetime | None] = mapped_column()  # None: known only by a password reset
    payments: Mapped[int] = mapped_column(Integer, default=0)
    devices: Mapped[list] = mapped_column(default=list)
    cards: Mapped[list] = mapped_column(default=list)
    regions: Mapped[list] = mapped_column(default=list)
    amounts: Mapped[dict] = mapped_column(default=dict)  # currency -> recent amounts_minor
    hours: Mapped[list] = mapped_column(default=list)  # 24 counters
    last_at: Mapped[datetime | None] = mapped_column()
    last_latitude: Mapped[float | None] = mapped_column(Float)
    last_longitude: Mapped[float | None] = mapped_column(Float)
    password_reset_at: Mapped[datetime | None] = mapped_column()


class RiskActivation(Base):
    """The active rule set (kept whole: small) and the active model's version, per kind."""

    __tablename__ = "risk_activations"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # rules | model
    version: Mapped[str | None] = mapped_column(String(64))  # None: no model (rules and amount tiers only)
    rules: Mapped[dict | None] = mapped_column()
    activated_at: Mapped[datetime] = mapped_column()


class RiskFraudReport(Base):
    """A payment confirmed fraudulent or genuine: through the API, an acquirer's chargeback, a wallet
    dispute or a risk case's outcome. Append-only, the audit of what was known when: a later report on
    the same payment corrects the one before (`corrects_id`; only the latest is `current`)."""

    __tablename__ = "risk_fraud_reports"
    __table_args__ = (Index("ix_risk_fraud_reports_merchant_payment", "merchant_id", "payment_id"),
                      UniqueConstraint("merchant_id", "source", "external_id"))  # a file read twice counts once
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    verdict: Mapped[str] = mapped_column(String(8))  # fraud | genuine
    source: Mapped[str] = mapped_column(String(16))  # api | chargeback | dispute | case
    external_id: Mapped[str | None] = mapped_column(String(64))  # the chargeback's, dispute's or case's reference
    learned_on: Mapped[date] = mapped_column(Date)  # the day it became known (a chargeback's date)
    reason: Mapped[str] = mapped_column(String(255))
    reported_by: Mapped[str] = mapped_column(String(128))
    corrects_id: Mapped[uuid.UUID | None] = mapped_column()
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskReview(Base):
    """A terminal, store or merchant whose confirmed fraud jumped: all its payments are stepped up
    while the review is open (closed_at None); only risk staff close it."""

    __tablename__ = "risk_reviews"
    __table_args__ = (Index("ux_risk_reviews_open_key", "key", unique=True, sqlite_where=text("closed_at IS NULL"),
                            postgresql_where=text("closed_at IS NULL")),
                      Index("ix_risk_reviews_merchant_opened", "merchant_id", "opened_at"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(300))  # "terminal|<id>", "store|<id>", "merchant|<id>"
    merchant_id: Mapped[str] = mapped_column(String(128))  # as the engine's facts name it
    figures: Mapped[dict] = mapped_column(default=dict)  # what opened it (compromise.ScopeFigures)
    opened_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(String(255))
