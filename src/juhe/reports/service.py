"""A report from its period's text to the PDF and its JSON summary: what the CLI and the console
both call, so that a period is refused alike (bad text, not begun, unknown merchant)."""

from __future__ import annotations

import uuid
from datetime import datetime

from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.reports import documents
from juhe.reports.compliance import compliance_report
from juhe.reports.monthly import monthly_review
from juhe.reports.periods import month_of, quarter_of, started


def monthly(db: Database, month: str, merchant_id: uuid.UUID | None = None, now: datetime | None = None) -> tuple[bytes, dict]:
    period = started(month_of(month))
    with db.reader() as session:
        review = monthly_review(session, period, merchant_id)
    return documents.monthly_pdf(review, now or utcnow()), documents.monthly_json(review)


def compliance(db: Database, quarter: str, merchant_id: uuid.UUID | None = None, now: datetime | None = None) -> tuple[bytes, dict]:
    period = started(quarter_of(quarter))
    with db.reader() as session:
        report = compliance_report(session, period, merchant_id)
    return documents.compliance_pdf(report, now or utcnow()), documents.compliance_json(report)


def file_name(kind: str, label: str) -> str:
    return f"juhe-{kind}-{label}.pdf"
