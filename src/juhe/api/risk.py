"""Fraud risk: real-time decisions for payments made elsewhere, the rules and the model.

The engine is the one the payments use (`ctx.risk`): a decision here records the attempt in
the same velocity store, and an activation changes what every payment is decided by. So
activations are the platform operator's (JUHE_PLATFORM_TOKEN); a merchant's risk key reads
the rules and models and dry-runs rule sets over its own payments. An activation is kept in the
database too: every other API process and worker follows it within a few seconds (juhe.risk.activation).
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import select

from juhe.api.deps import Caller, DatabaseDep, caller, get_db, get_principal, require
from juhe.api.errors import ApiError
from juhe.api.monitor import merchant_filter
from juhe.api.openapi import ROLES_KEY
from juhe.api.payments import Ctx
from juhe.db.engine import Database
from juhe.db.models import Merchant, new_id
from juhe.db.types import utcnow
from juhe.payments.context import PaymentsContext
from juhe.payments.risk_hook import EngineRisk
from juhe.risk.dryrun import DryRun
from juhe.risk.facts import Decision, RiskError
from juhe.risk.history import WARMUP_DAYS, PaymentHistory, dry_run_history, load_payment_history
from juhe.risk.model import RiskModel
from juhe.risk import reports
from juhe.risk.dbstore import DbFeatureStore
from juhe.risk.rules import RuleSetError, parse_rules

router = APIRouter(prefix="/v1/risk", tags=["risk"])
RiskReader = Annotated[Caller, Depends(caller("risk"))]
DRY_RUN_DAYS_MAX = 365
INDUSTRIES_CACHED_MAX = 10_000
_industries: dict[uuid.UUID, str | None] = {}
STATUS = {"unknown_version": 404, "version_exists": 409, "no_registry": 503, "unknown_payment": 404,
          "unknown_review": 404}
RULE_SET_EXAMPLE = {"version": "2026-06-01.1", "rules": [
    {"id": "R1", "description": "5,000.00 or more from a new device", "then": "step_up",
     "if": {"all": [{"feature": "amount_minor", "op": ">=", "value": 500_000},
                    {"feature": "new_device", "op": "==", "value": True}]}}]}
RuleSetBody = Annotated[Any, Body(description="a rule set (see juhe.risk.rules)", examples=[RULE_SET_EXAMPLE])]


class PayerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: str | None = Field(None, description="device fingerprint")
    client_ip: str | None = None
    card_token: str | None = Field(None, description="fingerprint of the card or account, never the card number")
    latitude: float | None = None
    longitude: float | None = None


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_minor: StrictInt = Field(description="in minor units of the currency (fen for CNY)")
    currency: str = "CNY"
    customer_id: str | None = Field(None, description="the payer's account at the merchant")
    payer: PayerIn = Field(default_factory=PayerIn)
    merchant_category: str | None = Field(None, examples=["electronics"],
                                          description="default: from the merchant's industry")


@contextmanager
def refusals():
    """RiskError as problem+json: unknown versions 404, taken versions 409, no registry 503, bad input 422."""
    try:
        yield
    except RuleSetError as error:
        raise ApiError(422, "invalid_rules", f"{len(error.errors)} problem(s) in the rule set; nothing was changed",
                       errors=[{"rule_id": p.rule_id, "code": p.code, "detail": p.message} for p in error.errors]) from None
    except RiskError as error:
        raise ApiError(STATUS.get(error.code, 422), error.code, str(error)) from None


def engine_risk(ctx: PaymentsContext) -> EngineRisk:
    if not isinstance(ctx.risk, EngineRisk):
        raise ApiError(503, "risk_engine_off", "this process runs without the risk engine (JUHE_RISK_ENGINE=false)")
    return ctx.risk


def platform_only(who: Caller) -> None:
    if who.scope is not None:
        raise ApiError(403, "forbidden", "activations apply to every merchant: only the platform operator may make them")


_may_decide = require("risk", "business")  # require()'s role check, called directly in _decide


# One hop to the database's threads for the key lookup, the industry and the decision (which
# reads and records velocity): FastAPI's sync dependencies would each take a hop of their own.
@router.post("/decisions", openapi_extra={ROLES_KEY: ["admin", *_may_decide.roles]})  # checked in _decide
async def decide(body: DecisionIn, request: Request) -> dict:
    """Allow, step up or block a payment that is not (yet) a Juhe payment, as a Juhe payment would be."""
    db = get_db(request)
    return await db.run(_decide, body, request, db)


def _decide(body: DecisionIn, request: Request, db: Database) -> dict:
    who = _may_decide(get_principal(request, db))
    risk = engine_risk(request.app.state.payments)
    payer = body.payer.model_dump(exclude_none=True)
    if body.merchant_category:
        payer["merchant_category"] = body.merchant_category
    payment = {"id": str(new_id()), "merchant_id": str(who.merchant_id), "amount_minor": body.amount_minor,
               "currency": body.currency, "customer_id": body.customer_id, "payer": payer,
               "industry": merchant_industry(db, who.merchant_id)}
    with refusals():
        return decision_view(risk.decide(payment))


def merchant_industry(db: Database, merchant_id: uuid.UUID) -> str | None:
    """The merchant's industry (the engine's default merchant category), read once per merchant:
    it is set when the merchant is created and never changes, and every decision needs it."""
    industry = _industries.get(merchant_id)
    if industry is None:
        with db.reader() as session:
            industry = session.scalar(select(Merchant.industry).where(Merchant.id == merchant_id))
        if len(_industries) >= INDUSTRIES_CACHED_MAX:
            _industries.clear()
        _industries[merchant_id] = industry
    return industry


@router.get("/rules")
def get_rules(who: RiskReader, ctx: Ctx) -> dict:
    """The rule set every payment is decided by now."""
    return engine_risk(ctx).engine.rules.to_json()


@router.post("/rules/dry-run")
def dry_run_rules(rule_set: RuleSetBody, who: RiskReader, db: DatabaseDep,
                  days: Annotated[int, Query(ge=1, le=DRY_RUN_DAYS_MAX)] = 30,
                  merchant_id: Annotated[uuid.UUID | None, Query(description="platform operator: one merchant; "
                                                                 "omit for all")] = None) -> dict:
    """How many of the last `days` days' payments a rule set would fire on, step up and block."""
    until = utcnow()
    with refusals():
        rules = parse_rules(rule_set)
        with db.reader() as session:
            history = load_payment_history(session, merchant_filter(who, merchant_id), until - timedelta(days=days), until)
        return dry_run_view(dry_run_history(rules, history), history, days)


@router.post("/rules")
def activate_rules(rule_set: RuleSetBody, who: RiskReader, ctx: Ctx) -> dict:
    """Validate a rule set, save it under its version and make it the one every payment is decided by."""
    platform_only(who)
    risk = engine_risk(ctx)
    with refusals():
        rules = parse_rules(rule_set)
        previous = risk.activate_rules(rules)
    return {**rules.to_json(), "previous_version": previous.version}


@router.get("/models")
def get_models(who: RiskReader, ctx: Ctx) -> dict:
    """The saved model versions and the active one."""
    risk = engine_risk(ctx)
    active = risk.engine.model
    return {"active": active.version if active else None, "model": model_view(active) if active else None,
            "versions": risk.registry.model_versions() if risk.registry else []}


@router.post("/models/{version}/activate")
def activate_model(version: str, who: RiskReader, ctx: Ctx) -> dict:
    """Swap a saved model in: decisions in flight finish on the previous one, none waits."""
    platform_only(who)
    risk = engine_risk(ctx)
    with refusals():
        previous = risk.activate_model(version)
    return {"active": version, "previous": previous.version if previous else None,
            "model": model_view(risk.engine.model)}


def decision_view(decision: Decision) -> dict:
    return {"action": decision.action, "score": decision.score, "reasons": decision.reasons,
            "verification": decision.verification, "model_version": decision.model_version,
            "rules_version": decision.rules_version}


def model_view(model: RiskModel) -> dict:
    return {"version": model.version, "currency": model.currency, "created_at": model.metadata.get("created_at"),
            "thresholds": {"step_up_score": model.thresholds.step_up_score, "block_score": model.thresholds.block_score},
            "validation": model.metadata.get("validation", {})}


def dry_run_view(result: DryRun, history: PaymentHistory, days: int) -> dict:
    # No chargeback labels: the dry run's "fraud" is what the engine stopped then (risk.history).
    return {
        "version": result.version, "days": days, "since": history.since.isoformat(), "until": history.until.isoformat(),
        "warmup_days": WARMUP_DAYS, "payments": result.payments, "fired": result.fired,
        "would_step_up": result.would_step_up, "would_block": result.would_block,
        "stopped_then": result.fraud_payments, "fired_on_stopped": result.fraud_caught,
        "fired_on_passed": result.legit_hit, "skipped": history.skipped,
        "rules": [{"id": r.id, "then": r.then, "fired": r.fired, "on_stopped": r.fraud, "on_passed": r.legit}
                  for r in result.rules],
    }



class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payment_id: uuid.UUID
    verdict: str = Field(description="fraud | genuine (a later report on the payment corrects the earlier one)")
    reason: str = Field(max_length=reports.REASON_CHARS_MAX, examples=["cardholder denies: card stolen"])
    learned_on: date | None = Field(None, description="the day it became known; default today")
    source: str = Field("api", description="api | chargeback | dispute | case")
    external_id: str | None = Field(None, description="chargeback or case reference: the same one twice is filed once")
    merchant_id: uuid.UUID | None = Field(None, description="platform operator only: whose payment")


class ReviewClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(examples=["terminal|T0000001"])
    outcome: str = Field(max_length=reports.REASON_CHARS_MAX, examples=["terminal swapped, skimmer removed"])


def feature_store(ctx: PaymentsContext) -> DbFeatureStore:
    store = engine_risk(ctx).engine.pipeline.store
    if not isinstance(store, DbFeatureStore):
        raise ApiError(503, "risk_store_off", "this process keeps its risk features in memory: reports need the database")
    return store


def _merchant_of(who: Caller, merchant_id: uuid.UUID | None) -> uuid.UUID:
    found = merchant_filter(who, merchant_id)
    if found is None:
        raise ApiError(422, "merchant_required", "the platform operator names the merchant (merchant_id)")
    return found


@router.post("/reports", status_code=201)
def file_report(body: ReportIn, who: RiskReader, db: DatabaseDep, ctx: Ctx) -> dict:
    """A payment confirmed fraudulent or genuine: it counts in its terminal's, store's and merchant's
    confirmed fraud from now on, and may put them under review (step-up) when their fraud jumps."""
    merchant_id = _merchant_of(who, body.merchant_id)
    store = feature_store(ctx)
    filed = reports.ReportIn(body.payment_id, body.verdict, body.source, body.learned_on or utcnow().date(),
                             body.reason, who.actor, body.external_id)
    with refusals(), db.session() as session, session.begin():
        result = reports.file_report(session, store, merchant_id, filed)
        view = report_view(result.report)
    return {**view, "replayed": result.replayed, "opened_reviews": list(result.opened_reviews)}


@router.get("/reports")
def list_reports(who: RiskReader, db: DatabaseDep, payment_id: uuid.UUID | None = None,
                 merchant_id: uuid.UUID | None = None,
                 limit: Annotated[int, Query(ge=1, le=reports.PAGE_MAX)] = 100) -> dict:
    """Reports newest first, the corrected ones too (`current` false, named by their correction)."""
    with db.reader() as session:
        found = reports.reports_of(session, merchant_filter(who, merchant_id), payment_id, limit)
        return {"data": [report_view(r) for r in found]}


@router.get("/reviews")
def list_reviews(who: RiskReader, db: DatabaseDep) -> dict:
    """Terminals, stores and merchants under review: every payment there is stepped up."""
    with db.reader() as session:
        found = reports.open_reviews(session, str(who.scope) if who.scope else None)
        return {"data": [{"key": r.key, "merchant_id": r.merchant_id, "opened_at": r.opened_at.isoformat(),
                          "figures": r.figures} for r in found]}


@router.post("/reviews/close")
def close_review(body: ReviewClose, who: RiskReader, db: DatabaseDep, ctx: Ctx) -> dict:
    """Risk staff reviewed a scope: its payments are decided as usual again."""
    store = feature_store(ctx)
    with refusals(), db.session() as session, session.begin():
        reports.close_review(session, store, str(who.scope) if who.scope else None, body.key, who.actor, body.outcome)
    return {"key": body.key, "closed": True}


def report_view(report) -> dict:
    return {"id": str(report.id), "payment_id": str(report.payment_id), "merchant_id": str(report.merchant_id),
            "verdict": report.verdict, "source": report.source, "external_id": report.external_id,
            "learned_on": report.learned_on.isoformat(), "reason": report.reason, "reported_by": report.reported_by,
            "corrects_id": str(report.corrects_id) if report.corrects_id else None, "current": report.current,
            "created_at": report.created_at.isoformat()}
