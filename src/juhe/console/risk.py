"""Risk: recent decisions with their score and reasons, step-up outcomes, the rule set in force
with a dry run of an edited one over recent history, and the active model's report.

Activating rules or a model applies to every merchant, so it stays with the platform operator
(`juhe risk activate-rules`, POST /v1/risk/rules); the console dry-runs before anyone does."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.console.web import acting, database, permitted, render
from juhe.db.types import utcnow
from juhe.payments.models import Payment, PaymentEvent
from juhe.payments.risk_hook import EngineRisk
from juhe.risk.facts import RiskError
from juhe.risk.history import dry_run_history, load_payment_history
from juhe.risk.rules import RuleSetError, parse_rules

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("risk.view"))]
Editor = Annotated[ConsoleUserView, Depends(acting("risk.rules.edit"))]
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
    engine = _engine(request)
    rules = engine.engine.rules.to_json() if engine else None
    model = engine.engine.model if engine else None
    return render(request, "risk.html", user, decisions=decisions, step_ups=step_ups, model=model,
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
