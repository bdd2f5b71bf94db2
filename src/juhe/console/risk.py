"""Risk: recent decisions with their score and reasons, step-up outcomes, the rule set in force
with a dry run of an edited one over recent history, and the active model's report.

Activating rules or a model applies to every merchant, so it stays with the platform operator
(`juhe risk activate-rules`, POST /v1/risk/rules); the console dry-runs before anyone does."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.audit import trail
from juhe.console.web import acting, audit_record, database, permitted, render
from juhe.db.types import utcnow
from juhe.payments.models import Payment, PaymentEvent
from juhe.payments.risk_hook import EngineRisk
from juhe.risk import reports
from juhe.risk.dbstore import DbFeatureStore
from juhe.risk.facts import RiskError
from juhe.risk.history import dry_run_history, load_payment_history
from juhe.risk.rules import RuleSetError, parse_rules

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("risk.view"))]
Editor = Annotated[ConsoleUserView, Depends(acting("risk.rules.edit"))]
Reporter = Annotated[ConsoleUserView, Depends(acting("risk.report"))]
ROWS = 50
DRY_RUN_DAYS = 30
RULES_CHARS_MAX = 100_000
# The timeline causes of a step-up: asked (risk_step_up), passed (verified), or given up on.
STEP_UP_CAUSES = ("risk_step_up", "verified", "verification_locked", "verification_unavailable")


def _engine(request: Request) -> EngineRisk | None:
    risk = request.app.state.payments.risk
    return risk if isinstance(risk, EngineRisk) else None


def _page(request: Request, user: ConsoleUserView, **extra):
    scoped = (lambda q, column: q if user.merchant_id is None else q.where(column == user.merchant_id))
    with database(request).reader() as session:
        decisions = session.scalars(scoped(select(Payment).where(Payment.risk.is_not(None)), Payment.merchant_id)
                                    .order_by(Payment.id.desc()).limit(ROWS)).all()
        step_ups = session.scalars(scoped(select(PaymentEvent).where(PaymentEvent.cause.in_(STEP_UP_CAUSES)), PaymentEvent.merchant_id)
                                   .order_by(PaymentEvent.id.desc()).limit(ROWS)).all()
        fraud_reports = reports.reports_of(session, user.merchant_id, limit=ROWS)
        reviews = reports.open_reviews(session, str(user.merchant_id) if user.merchant_id else None)
    engine = _engine(request)
    rules = engine.engine.rules.to_json() if engine else None
    model = engine.engine.model if engine else None
    return render(request, "risk.html", user, extra.pop("status_code", 200), decisions=decisions, step_ups=step_ups,
                  model=model, fraud_reports=fraud_reports, reviews=reviews,
                  rules_text=extra.pop("rules_text", None) or json.dumps(rules, ensure_ascii=False, indent=2), **extra)


@router.get("/risk")
def risk_page(request: Request, user: Viewer):
    return _page(request, user)


@router.post("/risk/rules/dry-run")
def dry_run(request: Request, user: Editor, rules: Annotated[str, Form(max_length=RULES_CHARS_MAX)]):
    """What the edited rules would have done to the last 30 days' payments of the user's scope."""
    until = utcnow()
    try:
        rule_set = parse_rules(json.loads(rules))
        with database(request).reader() as session:
            history = load_payment_history(session, user.merchant_id, until - timedelta(days=DRY_RUN_DAYS), until)
        result = dry_run_history(rule_set, history)
    except (ValueError, RuleSetError, RiskError) as refusal:  # json's errors are ValueErrors
        return _page(request, user, rules_text=rules, dry_run_error=str(refusal))
    return _page(request, user, rules_text=rules, dry_run=result, days=DRY_RUN_DAYS)


@router.post("/risk/reports")
def file_outcome(request: Request, user: Reporter, payment_id: Annotated[uuid.UUID, Form()],
                 verdict: Annotated[str, Form(max_length=8)], reason: Annotated[str, Form(max_length=255)],
                 case_ref: Annotated[str, Form(max_length=64)] = ""):
    """A risk case's outcome: the payment was fraud (or, correcting an earlier report, genuine)."""
    outcome = reports.ReportIn(payment_id, verdict, "case", utcnow().date(), reason, f"console:{user.login}",
                               f"console:{case_ref}" if case_ref else None)
    try:
        store = _store(request)
        with database(request).session() as session, session.begin():
            filed = reports.file_report(session, store, user.merchant_id, outcome)
            trail.append(session, [audit_record(request, user, "risk_report.filed", "risk_report", filed.report.id)])
    except RiskError as refusal:
        return _page(request, user, status_code=404 if refusal.code == "unknown_payment" else 422, report_error=str(refusal))
    return RedirectResponse("/console/risk", status_code=303)


@router.post("/risk/reviews/close")
def close_review(request: Request, user: Reporter, key: Annotated[str, Form(max_length=300)],
                 outcome: Annotated[str, Form(max_length=255)]):
    """Risk staff reviewed a terminal, store or merchant: its payments are decided as usual again."""
    try:
        with database(request).session() as session, session.begin():
            reports.close_review(session, _store(request), str(user.merchant_id), key, f"console:{user.login}", outcome)
            trail.append(session, [audit_record(request, user, "risk_review.closed", "risk_review", key)])
    except RiskError as refusal:
        return _page(request, user, status_code=404 if refusal.code == "unknown_review" else 422, report_error=str(refusal))
    return RedirectResponse("/console/risk", status_code=303)


def _store(request: Request) -> DbFeatureStore:
    engine = _engine(request)
    store = engine.engine.pipeline.store if engine else None
    if not isinstance(store, DbFeatureStore):
        raise RiskError("risk_store_off", "this process keeps no risk features in the database")
    return store
