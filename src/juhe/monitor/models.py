"""Fund monitoring tables: alert rules, the alerts they raise, the incidents those open, and
the audit trail of every incident transition.

`merchant_id` is NULL for what belongs to the platform as a whole: a rule that watches every
merchant, or an alert about a channel rather than one merchant."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import BigIntPK, utcnow


class AlertRule(Base):
    __tablename__ = "alert_rules"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column()  # validated per kind by juhe.monitor.rules
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    owner: Mapped[str] = mapped_column(String(120))  # role:<role> or user:<label>
    response_hours: Mapped[int] = mapped_column(Integer, default=24)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MonitorAlert(Base):
    """Written once. `dedupe_key` is unique, so the same condition never alerts twice, even
    when two workers evaluate at the same moment. `last_event_at` is the newest event the
    alert covers: a later burst from the same subject must consist of newer events."""

    __tablename__ = "monitor_alerts"
    __table_args__ = (
        Index("ix_monitor_alerts_merchant_id_id", "merchant_id", "id"),
        Index("ix_monitor_alerts_rule_id_subject", "rule_id", "subject"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alert_rules.id"))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict] = mapped_column()
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    last_event_at: Mapped[datetime | None] = mapped_column()
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitorIncident(Base):
    __tablename__ = "monitor_incidents"
    __table_args__ = (
        Index("ix_monitor_incidents_merchant_id_id", "merchant_id", "id"),
        Index("ix_monitor_incidents_status_due_at", "status", "due_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitor_alerts.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16))  # open, acknowledged, resolved
    due_at: Mapped[datetime] = mapped_column()
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()


class MonitorIncidentEvent(Base):
    """The audit trail: who moved an incident, when, from what to what, and why."""

    __tablename__ = "monitor_incident_events"
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitor_incidents.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
