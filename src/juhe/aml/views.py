"""JSON shapes of stored screenings, alerts, cases, lists and runs, for the API. Amounts stay
integers of minor units; times are ISO 8601."""

from __future__ import annotations

from datetime import datetime

from juhe.aml.models import AmlAlert, AmlCase, AmlCaseEvent, AmlScreening, AmlScreeningHit
from juhe.aml.monitoring_runs import MonitoringSummary
from juhe.aml.payment_screening import hit_view
from juhe.aml.watch_lists import StoredList


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def screening_view(row: AmlScreening, hits: list[AmlScreeningHit] | None = None) -> dict:
    body = {
        "id": str(row.id), "merchant_id": str(row.merchant_id), "subject": row.subject,
        "payment_id": str(row.payment_id) if row.payment_id else None, "status": row.status, "parties": row.parties,
        "hit_count": row.hit_count, "top_score": row.top_score, "threshold": row.threshold,
        "entries_screened": row.entries_screened, "lists_version": row.lists_version,
        "reviewed_by": row.reviewed_by, "reviewed_at": _iso(row.reviewed_at), "review_reason": row.review_reason,
        "created_at": _iso(row.created_at),
    }
    return body if hits is None else {**body, "hits": [hit_view(hit) for hit in hits]}


def alert_view(row: AmlAlert, *, with_evidence: bool = False) -> dict:
    body = {
        "id": str(row.id), "merchant_id": str(row.merchant_id), "alert_key": row.alert_key, "scenario": row.scenario,
        "account_id": row.account_id, "currency": row.currency, "window_start": _iso(row.window_start),
        "window_end": _iso(row.window_end), "score": row.score, "reason": row.reason, "figures": row.figures,
        "movement_ids": row.movement_ids, "case_id": str(row.case_id) if row.case_id else None,
        "raised_at": _iso(row.raised_at),
    }
    return {**body, "evidence": row.evidence} if with_evidence else body


def case_view(row: AmlCase, alerts: list[AmlAlert] | None = None, events: list[AmlCaseEvent] | None = None) -> dict:
    body = {
        "id": str(row.id), "merchant_id": str(row.merchant_id), "case_key": row.case_key, "account_id": row.account_id,
        "owner": row.owner, "status": row.status, "evidence": row.evidence, "decision_reason": row.decision_reason,
        "opened_at": _iso(row.opened_at), "decided_at": _iso(row.decided_at), "updated_at": _iso(row.updated_at),
    }
    if alerts is not None:
        body["alerts"] = [alert_view(alert, with_evidence=True) for alert in alerts]
    if events is not None:
        body["audit"] = [{"at": _iso(e.at), "actor": e.actor, "action": e.action, "before": e.before, "after": e.after,
                          "note": e.note} for e in events]
    return body


def list_view(stored: StoredList) -> dict:
    return {"id": str(stored.id), "scope": stored.scope, "name": stored.name, "entry_count": stored.entry_count,
            "uploaded_by": stored.uploaded_by, "created_at": _iso(stored.created_at)}


def run_view(summary: MonitoringSummary) -> dict:
    return {"run_id": str(summary.run_id), "movements": summary.movements,
            "alert_ids": [str(a) for a in summary.alert_ids], "cases_opened": [str(c) for c in summary.cases_opened],
            "unmonitored": summary.unmonitored}
