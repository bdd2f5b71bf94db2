"""Fraud reports: a payment confirmed fraudulent or genuine, days after it was decided.

They come from the merchant's risk staff (`POST /v1/risk/reports`), from the acquirer's chargeback
files and the wallets' disputes (`juhe.risk.chargebacks`, run by the worker) and from risk cases
decided in the console. Every report is a row of its own, never changed but for `current`: a later
report on the same payment corrects the one before it (it names it in `corrects_id`), so what was
known when stays on record, and each is also written to the audit trail.

What the features learn is the change of verdict: a payment reported as fraud counts once in its
terminal's, store's and merchant's confirmed fraud (on the day it happened), a correction to
genuine takes it out again, and a second fraud report of the same payment changes nothing. The
count reaches the feature store in the report's own transaction, so a decision sees a report only
once it was stored — never before. A fraud report also runs the compromise check
(`juhe.risk.compromise`): a jump in confirmed fraud puts the terminal, store or merchant under
review (every payment there stepped up) and raises a `risk_compromise` alert for risk staff, who
close the review here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from juhe.audit import trail
from juhe.db.types import utcnow
from juhe.monitor.alerts import raise_alert
from juhe.monitor.rules import RISK_COMPROMISE
from juhe.risk.compromise import after_fraud_report
from juhe.risk.dbstore import DbFeatureStore, bound_session
from juhe.risk.facts import RiskError
from juhe.risk.history import facts_of, load_payment
from juhe.risk.models import RiskFraudReport, RiskReview

VERDICTS = ("fraud", "genuine")
SOURCES = ("api", "chargeback", "dispute", "case")
REASON_CHARS_MAX = 255
EXTERNAL_ID_CHARS_MAX = 64
PAGE_MAX = 500
# Dates are the reporter's local ones (an acquirer in Beijing dates a chargeback a day ahead of UTC
# in the evening): a date is refused only where no time zone could give it.
DAY_AHEAD_MAX = timedelta(hours=14)


@dataclass(frozen=True, slots=True)
class ReportIn:
    payment_id: uuid.UUID
    verdict: str
    source: str
    learned_on: date
    reason: str
    reported_by: str  # "key:<id>", "console:<login>", "channel:pos" …
    external_id: str | None = None  # the chargeback's or case's reference: the same one twice is stored once


@dataclass(frozen=True, slots=True)
class Filed:
    report: RiskFraudReport
    replayed: bool  # the same external reference was filed before: nothing changed
    opened_reviews: tuple[str, ...] = ()


def file_report(session: Session, store: DbFeatureStore, merchant_id: uuid.UUID, report: ReportIn,
                now: datetime | None = None) -> Filed:
    """Store the report, correct the payment's earlier one, and update the confirmed-fraud features
    (in `session`: the caller commits). RiskError for a bad report or an unknown payment."""
    now = now or utcnow()
    _check(report, now)
    if report.external_id is not None:
        known = session.scalar(select(RiskFraudReport).where(
            RiskFraudReport.merchant_id == merchant_id, RiskFraudReport.source == report.source,
            RiskFraudReport.external_id == report.external_id))
        if known is not None:
            return Filed(known, replayed=True)
    payment = load_payment(session, merchant_id, report.payment_id)
    if payment is None:
        raise RiskError("unknown_payment", f"no payment {report.payment_id} of this merchant")
    if report.learned_on < (payment.created_at - DAY_AHEAD_MAX).date():
        raise RiskError("bad_report", "learned_on is before the payment was made")
    previous = _current(session, merchant_id, report.payment_id, lock=True)
    row = RiskFraudReport(merchant_id=merchant_id, payment_id=report.payment_id, verdict=report.verdict,
                          source=report.source, external_id=report.external_id, learned_on=report.learned_on,
                          reason=report.reason, reported_by=report.reported_by, current=True, created_at=now,
                          corrects_id=previous.id if previous else None)
    if previous is not None:
        session.execute(update(RiskFraudReport).where(RiskFraudReport.id == previous.id).values(current=False))
    session.add(row)
    session.flush()
    delta = (report.verdict == "fraud") - (previous is not None and previous.verdict == "fraud")
    opened = _learn(session, store, facts_of(payment), delta, now) if delta else {}
    _audit(session, merchant_id, row, previous)
    for key, figures in opened.items():
        raise_alert(session.connection(), RISK_COMPROMISE, merchant_id, key, figures, f"risk_review:{key}:{now:%Y%m%d}",
                    now=now)
    return Filed(row, replayed=False, opened_reviews=tuple(opened))


def _check(report: ReportIn, now: datetime) -> None:
    problems = []
    if report.verdict not in VERDICTS:
        problems.append(f"verdict must be one of {', '.join(VERDICTS)}")
    if report.source not in SOURCES:
        problems.append(f"source must be one of {', '.join(SOURCES)}")
    if not report.reason.strip() or len(report.reason) > REASON_CHARS_MAX:
        problems.append(f"reason must be 1 to {REASON_CHARS_MAX} characters")
    if report.external_id is not None and not 0 < len(report.external_id) <= EXTERNAL_ID_CHARS_MAX:
        problems.append(f"external_id must be 1 to {EXTERNAL_ID_CHARS_MAX} characters")
    if report.learned_on > (now + DAY_AHEAD_MAX).date():
        problems.append("learned_on is in the future")
    if problems:
        raise RiskError("bad_report", "; ".join(problems))


def _current(session: Session, merchant_id: uuid.UUID, payment_id: uuid.UUID, lock: bool = False):
    query = select(RiskFraudReport).where(RiskFraudReport.merchant_id == merchant_id,
                                          RiskFraudReport.payment_id == payment_id, RiskFraudReport.current)
    return session.scalar(query.with_for_update() if lock else query)


def _learn(session: Session, store: DbFeatureStore, facts, delta: int, now: datetime) -> dict[str, dict]:
    """The confirmed-fraud counts change by `delta`; on a new fraud, the scopes newly put under review."""
    with bound_session(session):
        store.record_fraud_report(facts, delta)
        if delta < 0:
            return {}
        found = after_fraud_report(store, facts, now)
    return {key: {"recent_payments": f.recent_payments, "recent_frauds": f.recent_frauds,
                  "before_payments": f.before_payments, "before_frauds": f.before_frauds} for key, f in found.items()}


def _audit(session: Session, merchant_id: uuid.UUID, row: RiskFraudReport, previous: RiskFraudReport | None) -> None:
    detail = {"payment_id": str(row.payment_id), "verdict": row.verdict, "source": row.source,
              "learned_on": row.learned_on.isoformat(), "corrects": str(previous.id) if previous else None,
              "was": previous.verdict if previous else None}
    trail.append(session, [trail.Record(actor=row.reported_by, action="risk.report", outcome="ok", origin=row.source,
                                        merchant_id=merchant_id, object_type="risk_report", object_id=str(row.id),
                                        detail=detail)])


def reports_of(session: Session, merchant_id: uuid.UUID | None, payment_id: uuid.UUID | None = None,
               limit: int = 100) -> list[RiskFraudReport]:
    """The reports, newest first (corrected ones included); one merchant's, or every merchant's (None)."""
    query = select(RiskFraudReport).order_by(RiskFraudReport.created_at.desc(), RiskFraudReport.id.desc())
    if merchant_id is not None:
        query = query.where(RiskFraudReport.merchant_id == merchant_id)
    if payment_id is not None:
        query = query.where(RiskFraudReport.payment_id == payment_id)
    return list(session.scalars(query.limit(min(limit, PAGE_MAX))))


def open_reviews(session: Session, merchant_id: str | None) -> list[RiskReview]:
    query = select(RiskReview).where(RiskReview.closed_at.is_(None)).order_by(RiskReview.opened_at)
    if merchant_id is not None:
        query = query.where(RiskReview.merchant_id == merchant_id)
    return list(session.scalars(query.limit(PAGE_MAX)))


def close_review(session: Session, store: DbFeatureStore, merchant_id: str | None, key: str, closed_by: str,
                 outcome: str, now: datetime | None = None) -> None:
    """Risk staff reviewed the scope: its payments are no longer stepped up for it. RiskError when no
    review of `key` is open (for this merchant)."""
    if not outcome.strip() or len(outcome) > REASON_CHARS_MAX:
        raise RiskError("bad_review", f"outcome must be 1 to {REASON_CHARS_MAX} characters")
    query = select(RiskReview.id).where(RiskReview.key == key, RiskReview.closed_at.is_(None))
    if merchant_id is not None:
        query = query.where(RiskReview.merchant_id == merchant_id)
    if session.scalar(query) is None:
        raise RiskError("unknown_review", f"no open review of {key}")
    with bound_session(session):
        store.close_review(key, now or utcnow(), closed_by, outcome)
