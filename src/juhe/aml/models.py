"""AML tables: uploaded watch lists and their version counter, screenings with their hits,
monitoring runs, the alerts they raise, and cases with their audit trail.

Every row carries `merchant_id`; it is NULL only for what belongs to the platform as a whole
(a watch list the operator uploaded for everyone, a monitoring run over every merchant).
Alerts and case events are written once; a case row changes only through juhe.aml.cases."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import juhe.payments.models  # noqa: F401 -- aml_screenings.payment_id refers to payments
from juhe.db.models import Base, new_id
from juhe.db.types import BigIntPK, utcnow

PLATFORM_SCOPE = "platform"  # the scope of lists that apply to every merchant


class AmlWatchList(Base):
    """A list uploaded through the API, kept as uploaded so that every process parses the same text.
    `scope` is PLATFORM_SCOPE or the merchant's id: a merchant's own list screens only its payments."""

    __tablename__ = "aml_watch_lists"
    __table_args__ = (UniqueConstraint("scope", "name"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(36))
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    entry_count: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AmlListVersion(Base):
    """Bumped in the transaction that changes a scope's lists; processes compare it with the
    version their cached WatchList was built from, and rebuild when it moved."""

    __tablename__ = "aml_list_versions"
    scope: Mapped[str] = mapped_column(String(36), primary_key=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AmlScreening(Base):
    """One screening of a payment's parties (or of a merchant at onboarding) and its outcome.
    status: clear (no hit) | held (waits for a reviewer) → released | rejected."""

    __tablename__ = "aml_screenings"
    __table_args__ = (
        UniqueConstraint("merchant_id", "payment_id"),  # a payment is screened once; NULLs (merchants) repeat
        Index("ix_aml_screenings_merchant_id_id", "merchant_id", "id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    subject: Mapped[str] = mapped_column(String(10))  # payment | merchant
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    parties: Mapped[list] = mapped_column()  # [{role, name, country, account}]
    request: Mapped[dict | None] = mapped_column()  # the payment's payer fields as screened, to resume it from
    status: Mapped[str] = mapped_column(String(10))
    hit_count: Mapped[int] = mapped_column(Integer)
    top_score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    entries_screened: Mapped[int] = mapped_column(Integer)  # 0: no list was loaded, said so rather than hidden
    lists_version: Mapped[str] = mapped_column(String(200))
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    review_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AmlScreeningHit(Base):
    __tablename__ = "aml_screening_hits"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    screening_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("aml_screenings.id"), index=True)
    party_role: Mapped[str] = mapped_column(String(16))
    party_name: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    list_name: Mapped[str] = mapped_column(String(120))
    entry_id: Mapped[str] = mapped_column(String(64))
    entry_name: Mapped[str] = mapped_column(String(400))
    detail: Mapped[dict] = mapped_column()  # juhe.aml.screening.Hit.to_json()


class AmlMonitoringRun(Base):
    __tablename__ = "aml_monitoring_runs"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merchants.id"), index=True)  # NULL: every merchant
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    movements: Mapped[int] = mapped_column(Integer)
    alerts_raised: Mapped[int] = mapped_column(Integer)
    cases_opened: Mapped[int] = mapped_column(Integer)
    unmonitored: Mapped[list] = mapped_column()  # [{merchant_id, currency, movements}] without limits
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column(default=utcnow)


class AmlCase(Base):
    """`status` is juhe.aml.cases' decision (pending, escalated, dismissed, reported);
    `evidence` the movement ids its alerts cite."""

    __tablename__ = "aml_cases"
    __table_args__ = (
        Index("ix_aml_cases_merchant_id_id", "merchant_id", "id"),
        Index("ix_aml_cases_merchant_id_account_id", "merchant_id", "account_id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    case_key: Mapped[str] = mapped_column(String(40))  # juhe.aml.cases.Case.case_id
    account_id: Mapped[str] = mapped_column(String(80))
    owner: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))
    evidence: Mapped[list] = mapped_column()
    decision_reason: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AmlCaseEvent(Base):
    """The audit trail of a case: juhe.aml.cases.AuditEvent as stored, never changed."""

    __tablename__ = "aml_case_events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("aml_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))  # opened | decision | owner | comment | alerts
    before: Mapped[str | None] = mapped_column(String(200))
    after: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


class AmlAlert(Base):
    """Written once per (scenario, account, currency, window) and merchant: a second run over the
    same data finds the same windows and stores nothing new. `evidence` holds the cited movements
    as they were when found, so a report does not depend on rebuilding them."""

    __tablename__ = "aml_alerts"
    __table_args__ = (
        UniqueConstraint("merchant_id", "scenario", "account_id", "currency", "window_start", "window_end"),
        Index("ix_aml_alerts_merchant_id_id", "merchant_id", "id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    alert_key: Mapped[str] = mapped_column(String(40))  # juhe.aml.alerts.Alert.alert_id
    scenario: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(80))
    currency: Mapped[str] = mapped_column(String(3))
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict] = mapped_column()
    movement_ids: Mapped[list] = mapped_column()
    evidence: Mapped[list] = mapped_column()
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("aml_cases.id"), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("aml_monitoring_runs.id"))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
