"""Alerts and cases in the database. The rules stay in juhe.aml.cases: a stored case is loaded as
its pure `Case`, changed by a pure function (which refuses an illegal change), and the result
written back with the audit events it added. Nothing here decides what a case may become."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.aml import cases
from juhe.aml.alerts import Alert
from juhe.aml.cases import Case
from juhe.aml.errors import AmlError
from juhe.aml.models import AmlAlert, AmlCase, AmlCaseEvent
from juhe.aml.movements import movements_frame
from juhe.aml.suspicious_report import Subject, suspicious_transaction_report
from juhe.db.models import Merchant
from juhe.db.pages import keyset, split

DEFAULT_OWNER = "role:risk"  # who reviews a new case until someone takes it
OPEN = (cases.PENDING, cases.ESCALATED)
CASE_STATUSES = tuple(cases.TRANSITIONS)


@dataclass(frozen=True, slots=True)
class StoredAlerts:
    alert_ids: list[uuid.UUID]
    cases_opened: list[uuid.UUID]


def store_alerts(session: Session, merchant_id: uuid.UUID, found: Sequence[Alert], evidence: dict[str, dict], *,
                 run_id: uuid.UUID | None, actor: str, at: datetime) -> StoredAlerts:
    """Store the alerts not stored before and give each account's new alerts to its open case
    (or a new one). `evidence`: movement id → the movement as a JSON row."""
    new = [(alert, row) for alert in found if (row := _insert_alert(session, merchant_id, alert, evidence, run_id, at))]
    by_account: dict[str, list[tuple[Alert, AmlAlert]]] = {}
    for alert, row in new:
        by_account.setdefault(alert.account_id, []).append((alert, row))
    opened = []
    for account_id, pairs in sorted(by_account.items()):
        case_row = _open_case_of(session, merchant_id, account_id)
        if case_row is None:
            case_row = _new_case(session, merchant_id, cases.open_case([a for a, _ in pairs], owner=DEFAULT_OWNER,
                                                                        actor=actor, at=at))
            opened.append(case_row.id)
        else:
            _change(session, case_row, lambda case: cases.add_alerts(case, [a for a, _ in pairs], actor=actor, at=at))
        for _, row in pairs:
            row.case_id = case_row.id
    session.flush()
    return StoredAlerts([row.id for _, row in new], opened)


def _insert_alert(session: Session, merchant_id: uuid.UUID, alert: Alert, evidence: dict[str, dict],
                  run_id: uuid.UUID | None, at: datetime) -> AmlAlert | None:
    """The stored alert, or None when this window, or a pattern covering its evidence, is stored already."""
    same = session.scalars(select(AmlAlert).where(
        AmlAlert.merchant_id == merchant_id, AmlAlert.scenario == alert.scenario, AmlAlert.account_id == alert.account_id,
        AmlAlert.currency == alert.currency, AmlAlert.window_start <= alert.window_end,
        AmlAlert.window_end >= alert.window_start)).all()
    if any(set(alert.movement_ids) <= set(row.movement_ids) for row in same):
        return None
    row = AmlAlert(
        merchant_id=merchant_id, alert_key=alert.alert_id, scenario=alert.scenario, account_id=alert.account_id,
        currency=alert.currency, window_start=alert.window_start, window_end=alert.window_end, score=alert.score,
        reason=alert.reason, figures=_plain(alert.figures), movement_ids=list(alert.movement_ids),
        evidence=[evidence[m] for m in alert.movement_ids], run_id=run_id, raised_at=at,
    )
    try:
        with session.begin_nested():  # another run stored the same window meanwhile: theirs stands
            session.add(row)
    except IntegrityError:
        return None
    return row


def _plain(figures: dict) -> dict:
    return {key: value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
            for key, value in figures.items()}


def _open_case_of(session: Session, merchant_id: uuid.UUID, account_id: str) -> AmlCase | None:
    return session.scalar(select(AmlCase).where(AmlCase.merchant_id == merchant_id, AmlCase.account_id == account_id,
                                                AmlCase.status.in_(OPEN)).order_by(AmlCase.id.desc()).limit(1)
                          .with_for_update())


def _new_case(session: Session, merchant_id: uuid.UUID, case: Case) -> AmlCase:
    row = AmlCase(merchant_id=merchant_id, case_key=case.case_id, account_id=case.account_id, owner=case.owner,
                  status=case.decision, evidence=list(case.evidence), opened_at=case.opened_at, updated_at=case.opened_at)
    session.add(row)
    session.flush()
    _add_events(session, row, case.audit)
    return row


def _add_events(session: Session, row: AmlCase, events) -> None:
    session.add_all(AmlCaseEvent(merchant_id=row.merchant_id, case_id=row.id, at=e.at, actor=e.actor, action=e.action,
                                 before=e.before, after=e.after, note=e.note) for e in events)


def load_case(session: Session, row: AmlCase) -> Case:
    """The stored case as juhe.aml.cases sees it."""
    alerts = case_alerts(session, row.id)
    events = case_events(session, row.id)
    return Case(
        case_id=row.case_key, account_id=row.account_id, alerts=tuple(_alert(a) for a in alerts), owner=row.owner,
        decision=row.status, opened_at=row.opened_at,
        comments=tuple(cases.Comment(at=e.at, author=e.actor, text=e.note) for e in events if e.action == "comment"),
        audit=tuple(cases.AuditEvent(at=e.at, actor=e.actor, action=e.action, before=e.before, after=e.after, note=e.note)
                    for e in events),
    )


def _alert(row: AmlAlert) -> Alert:
    return Alert(alert_id=row.alert_key, scenario=row.scenario, account_id=row.account_id, currency=row.currency,
                 window_start=row.window_start, window_end=row.window_end, movement_ids=tuple(row.movement_ids),
                 score=row.score, reason=row.reason, figures=row.figures)


def case_alerts(session: Session, case_id: uuid.UUID) -> list[AmlAlert]:
    return list(session.scalars(select(AmlAlert).where(AmlAlert.case_id == case_id).order_by(AmlAlert.id)))


def case_events(session: Session, case_id: uuid.UUID) -> list[AmlCaseEvent]:
    return list(session.scalars(select(AmlCaseEvent).where(AmlCaseEvent.case_id == case_id).order_by(AmlCaseEvent.id)))


def _change(session: Session, row: AmlCase, change: Callable[[Case], Case]) -> Case:
    before = load_case(session, row)
    after = change(before)  # raises AmlError for an illegal change; nothing is written then
    _add_events(session, row, after.audit[len(before.audit):])
    row.owner, row.status, row.evidence = after.owner, after.decision, list(after.evidence)
    row.decision_reason = after.decision_reason
    row.updated_at = after.audit[-1].at
    if after.decision in cases.CLOSED:
        row.decided_at = after.audit[-1].at
    session.flush()
    return after


def get_case(session: Session, case_id: uuid.UUID, merchant_id: uuid.UUID | None, *, for_update: bool = False) -> AmlCase:
    query = select(AmlCase).where(AmlCase.id == case_id)
    if merchant_id is not None:
        query = query.where(AmlCase.merchant_id == merchant_id)
    row = session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise AmlError("case_not_found", f"no case {case_id}")
    return row


def decide_case(session: Session, case_id: uuid.UUID, merchant_id: uuid.UUID | None, decision: str, *,
                actor: str, reason: str, at: datetime) -> AmlCase:
    row = get_case(session, case_id, merchant_id, for_update=True)
    _change(session, row, lambda case: cases.decide(case, decision, actor=actor, reason=reason, at=at))
    return row


def reassign_case(session: Session, case_id: uuid.UUID, merchant_id: uuid.UUID | None, owner: str, *,
                  actor: str, at: datetime) -> AmlCase:
    row = get_case(session, case_id, merchant_id, for_update=True)
    _change(session, row, lambda case: cases.reassign(case, owner, actor=actor, at=at))
    return row


def comment_case(session: Session, case_id: uuid.UUID, merchant_id: uuid.UUID | None, text: str, *,
                 actor: str, at: datetime) -> AmlCase:
    row = get_case(session, case_id, merchant_id, for_update=True)
    _change(session, row, lambda case: cases.add_comment(case, text, actor=actor, at=at))
    return row


def suspicious_report(session: Session, case_id: uuid.UUID, merchant_id: uuid.UUID | None, *,
                      reporter: str, at: datetime) -> dict:
    """The STR of a reported case: the merchant as subject, the movements its alerts cite as stored."""
    row = get_case(session, case_id, merchant_id)
    case = load_case(session, row)
    merchant = session.get(Merchant, row.merchant_id)
    cited = {m["movement_id"]: m for alert in case_alerts(session, row.id) for m in alert.evidence}
    frame = movements_frame([{**m, "occurred_at": datetime.fromisoformat(m["occurred_at"])} for m in cited.values()])
    subject = Subject(account_id=row.account_id, name=merchant.name, subject_type="corporate")
    return suspicious_transaction_report(case, subject, frame, reporter=reporter, at=at)


def list_alerts(session: Session, merchant_id: uuid.UUID | None, *, scenario: str | None, limit: int,
                cursor: uuid.UUID | None) -> tuple[list[AmlAlert], str | None]:
    query = select(AmlAlert)
    if merchant_id is not None:
        query = query.where(AmlAlert.merchant_id == merchant_id)
    if scenario is not None:
        query = query.where(AmlAlert.scenario == scenario)
    return split(session.scalars(keyset(query, AmlAlert.id, limit=limit, cursor=cursor)).all(), limit)


def list_cases(session: Session, merchant_id: uuid.UUID | None, *, status: str | None, limit: int,
               cursor: uuid.UUID | None) -> tuple[list[AmlCase], str | None]:
    if status is not None and status not in CASE_STATUSES:
        raise AmlError("invalid_filter", f"status must be one of {', '.join(CASE_STATUSES)}")
    query = select(AmlCase)
    if merchant_id is not None:
        query = query.where(AmlCase.merchant_id == merchant_id)
    if status is not None:
        query = query.where(AmlCase.status == status)
    return split(session.scalars(keyset(query, AmlCase.id, limit=limit, cursor=cursor)).all(), limit)


def evidence_rows(frame: pl.DataFrame) -> dict[str, dict]:
    """movement id → the movement as stored with an alert (times in ISO 8601)."""
    return {row["movement_id"]: {**row, "occurred_at": row["occurred_at"].isoformat()}
            for row in frame.iter_rows(named=True)}
