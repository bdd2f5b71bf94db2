"""The quarterly compliance report's figures (季度合规报告): AML monitoring alerts and cases, the
suspicious-transaction reports (cases decided `reported`) and the large-value reports of the
quarter, the daily reserve-fund proofs, a summary of the audit trail with its chain checked, and
the access review — every console user and API key with its role and last recorded use.

A merchant's report holds what is the merchant's; reserve proofs cover every merchant's money
at the bank and appear in the platform's report only."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from juhe.aml.cases import DISMISSED, REPORTED
from juhe.aml.config import MonitoringConfig
from juhe.aml.errors import AmlError
from juhe.aml.large_value import large_value_report
from juhe.aml.ledger_movements import movements_between
from juhe.aml.models import AmlAlert, AmlCase
from juhe.aml.movements import empty_movements
from juhe.audit import trail
from juhe.audit.models import AuditRecord
from juhe.console.models import ConsoleUser
from juhe.db.models import ApiKey, Merchant
from juhe.reports.periods import Period
from juhe.reports.scope import PLATFORM, merchant_name, scoped
from juhe.settlement.models import ReserveProofRow

IDLE_AFTER = timedelta(days=90)  # a login or key unused this long before the quarter's end is flagged for review
TOP_ACTIONS = 15


@dataclass
class StrFiling:
    case: str
    merchant: str
    account: str
    alerts: int
    decided_at: datetime | None
    reason: str


@dataclass
class LargeValue:
    currency: str
    reports: int = 0  # customer-days at or over a threshold, per rule and direction
    movements: int = 0
    amount_minor: int = 0


@dataclass
class ReserveFigures:
    currency: str
    days: int = 0
    failed_days: list[str] = field(default_factory=list)
    smallest_coverage_minor: int | None = None  # bank balance less what is owed, on the tightest day


@dataclass
class Access:
    kind: str  # console_user | api_key
    name: str
    merchant: str
    role: str
    created_at: datetime
    last_used_at: datetime | None  # the newest audited login (users) or change (keys)
    status: str  # active, locked, revoked
    review: str  # why it needs looking at, or ""


@dataclass
class ComplianceReport:
    period: Period
    merchant: str
    alerts_by_scenario: dict[str, int]
    cases_opened: int
    cases_by_status: dict[str, int]  # of the cases opened in the quarter, as they stand now
    cases_open_at_end: int  # every case not yet decided, whenever opened
    strs: list[StrFiling]
    large_value: list[LargeValue]
    large_value_problem: str | None
    reserve: list[ReserveFigures] | None  # None: a merchant's report
    audit_records: int
    audit_by_outcome: dict[str, int]
    audit_top_actions: list[tuple[str, int]]
    audit_actors: int
    audit_chain_ok: bool
    audit_chain_records: int
    audit_chain_problems: list[str]
    access: list[Access]

    @property
    def alerts(self) -> int:
        return sum(self.alerts_by_scenario.values())


def compliance_report(session: Session, period: Period, merchant_id: uuid.UUID | None = None,
                      config: MonitoringConfig | None = None) -> ComplianceReport:
    merchant = merchant_name(session, merchant_id)
    names = dict(session.execute(select(Merchant.id, Merchant.name)).all())
    alerts = _grouped(session, AmlAlert.scenario, scoped(select(AmlAlert.scenario, func.count()).where(
        AmlAlert.raised_at >= period.start, AmlAlert.raised_at < period.end), AmlAlert, merchant_id))
    opened = scoped(select(AmlCase.status, func.count()).where(AmlCase.opened_at >= period.start, AmlCase.opened_at < period.end),
                    AmlCase, merchant_id)
    by_status = _grouped(session, AmlCase.status, opened)
    still_open = session.scalar(scoped(select(func.count()).select_from(AmlCase).where(
        AmlCase.status.not_in((DISMISSED, REPORTED)), AmlCase.opened_at < period.end), AmlCase, merchant_id))
    large, problem = _large_value(session, period, merchant_id, names, config or MonitoringConfig())
    chain = trail.verify(session)
    audit = scoped(select(AuditRecord.action, AuditRecord.outcome, AuditRecord.actor).where(
        AuditRecord.at >= period.start, AuditRecord.at < period.end), AuditRecord, merchant_id)
    rows = session.execute(audit).all()
    return ComplianceReport(
        period=period, merchant=merchant, alerts_by_scenario=alerts, cases_opened=sum(by_status.values()),
        cases_by_status=by_status, cases_open_at_end=int(still_open or 0), strs=_strs(session, period, merchant_id, names),
        large_value=large, large_value_problem=problem,
        reserve=_reserve(session, period) if merchant_id is None else None,
        audit_records=len(rows), audit_by_outcome=dict(Counter(_outcome(r.outcome) for r in rows)),
        audit_top_actions=Counter(r.action for r in rows).most_common(TOP_ACTIONS), audit_actors=len({r.actor for r in rows}),
        audit_chain_ok=not chain.problems, audit_chain_records=chain.records, audit_chain_problems=chain.problems[:10],
        access=_access(session, period, merchant_id, names),
    )


def _grouped(session: Session, key, query) -> dict[str, int]:
    return {name: int(count) for name, count in session.execute(query.group_by(key).order_by(key))}


def _outcome(outcome: str) -> str:
    return outcome.split(":", 1)[0]  # failed:<code> counts as failed


def _strs(session: Session, period: Period, merchant_id, names: dict) -> list[StrFiling]:
    query = scoped(select(AmlCase).where(AmlCase.status == REPORTED, AmlCase.decided_at >= period.start,
                                         AmlCase.decided_at < period.end).order_by(AmlCase.decided_at), AmlCase, merchant_id)
    cases = session.scalars(query).all()
    alerts = dict(session.execute(select(AmlAlert.case_id, func.count()).where(AmlAlert.case_id.in_([c.id for c in cases]))
                                  .group_by(AmlAlert.case_id)).all()) if cases else {}
    return [StrFiling(c.case_key, names.get(c.merchant_id, "—"), c.account_id, int(alerts.get(c.id, 0)), c.decided_at,
                      c.decision_reason or "") for c in cases]


def _large_value(session: Session, period: Period, merchant_id, names: dict,
                 config: MonitoringConfig) -> tuple[list[LargeValue], str | None]:
    """The quarter's large-value report rows as juhe.aml.large_value lists them, summed per currency."""
    frames = [empty_movements()]
    try:
        for merchant in ([merchant_id] if merchant_id else sorted(names)):
            frames.append(movements_between(session, merchant, period.start, period.end))
    except AmlError as error:  # too many movements for one frame: said in the report, not hidden
        return [], str(error)
    frame = pl.concat(frames).filter(pl.col("currency").is_in(list(config.limits)))
    rows = large_value_report(frame, config)
    found = []
    for (currency,), group in sorted(rows.group_by("currency"), key=lambda g: g[0]):
        reports = group.select("report_date", "account_id", "report_rule", "direction").unique().height
        found.append(LargeValue(currency, reports, group.height, int(group["amount_minor"].sum())))
    return found, None


def _reserve(session: Session, period: Period) -> list[ReserveFigures]:
    found: dict[str, ReserveFigures] = {}
    query = select(ReserveProofRow).where(ReserveProofRow.day >= period.first_day, ReserveProofRow.day < period.next_day) \
        .order_by(ReserveProofRow.currency, ReserveProofRow.day)
    for proof in session.scalars(query):
        figures = found.setdefault(proof.currency, ReserveFigures(proof.currency))
        figures.days += 1
        if not proof.ok:
            figures.failed_days.append(proof.day.isoformat())
        if figures.smallest_coverage_minor is None or proof.coverage_minor < figures.smallest_coverage_minor:
            figures.smallest_coverage_minor = proof.coverage_minor
    return list(found.values())


def _access(session: Session, period: Period, merchant_id, names: dict) -> list[Access]:
    """Who can get in, as the quarter ends: console users with their last login, API keys with their
    last audited change (reads are not audited, so a key used only to read shows none)."""
    logins = dict(session.execute(select(AuditRecord.object_id, func.max(AuditRecord.at)).where(
        AuditRecord.action == "console.login", AuditRecord.outcome == "succeeded", AuditRecord.at < period.end)
        .group_by(AuditRecord.object_id)).all())
    key_use = dict(session.execute(select(AuditRecord.actor, func.max(AuditRecord.at)).where(
        AuditRecord.actor.like("api_key:%"), AuditRecord.at < period.end).group_by(AuditRecord.actor)).all())
    found = []
    users = scoped(select(ConsoleUser).where(ConsoleUser.created_at < period.end).order_by(ConsoleUser.login), ConsoleUser, merchant_id)
    for user in session.scalars(users):
        locked = user.locked_until is not None and user.locked_until > period.end
        found.append(_access_row("console_user", f"{user.login} ({user.name})", names.get(user.merchant_id, PLATFORM),
                                 user.role, user.created_at, logins.get(user.login), "locked" if locked else "active", period))
    keys = scoped(select(ApiKey).where(ApiKey.created_at < period.end).order_by(ApiKey.merchant_id, ApiKey.name), ApiKey, merchant_id)
    for key in session.scalars(keys):
        revoked = key.revoked_at is not None and key.revoked_at < period.end
        found.append(_access_row("api_key", f"{key.name} ({key.prefix}…)", names.get(key.merchant_id, "—"), ",".join(key.roles),
                                 key.created_at, key_use.get(f"api_key:{key.id}"), "revoked" if revoked else "active", period))
    return found


def _access_row(kind, name, merchant, role, created_at, last_used_at, status, period: Period) -> Access:
    review = ""
    if status == "active" and (last_used_at or created_at) < period.end - IDLE_AFTER:
        review = "unused 90 days 90天未使用" if last_used_at else "never used 从未使用"
    elif status == "active" and "admin" in role.split(","):
        review = "admin 管理员权限"
    return Access(kind, name, merchant, role, created_at, last_used_at, status, review)
