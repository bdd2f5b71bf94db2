"""AML: watch lists, screenings and their review, monitoring alerts, cases, and the reports
(suspicious-transaction report of a reported case, the day's large-value report).

Risk and admin keys see their own merchant only; the platform operator (JUHE_PLATFORM_TOKEN)
sees every merchant and keeps the lists that screen everyone."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from juhe.aml import case_store, payment_screening, views, watch_lists
from juhe.aml.errors import AmlError
from juhe.aml.monitoring_runs import large_value_day, monitoring_run
from juhe.aml.suspicious_report import report_csv
from juhe.api.deps import DatabaseDep
from juhe.api.payments import Ctx
from juhe.payments.resume import review_held_payment
from juhe.payments.views import payment_view
from juhe.api.errors import ApiError
from juhe.api.deps import Caller, caller
from juhe.api.monitor import merchant_filter
from juhe.db.pages import PAGE_MAX
from juhe.db.types import utcnow

router = APIRouter(prefix="/v1/aml", tags=["aml"])
Reviewer = Annotated[Caller, Depends(caller("risk"))]
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX)]
NOT_FOUND = frozenset({"screening_not_found", "case_not_found", "payment_not_found", "merchant_not_found"})
CONFLICT = frozenset({"illegal_transition", "case_closed", "screening_not_held", "no_change", "case_not_reported",
                      "audit_out_of_order"})
CSV = "text/csv; charset=utf-8"


def status_of(code: str) -> int:
    return 404 if code in NOT_FOUND else 409 if code in CONFLICT else 422


@contextmanager
def refusals():
    """AmlError as problem+json: unknown records 404, changes the state forbids 409, bad input 422."""
    try:
        yield
    except AmlError as error:
        extra = {"line": error.line} if error.line is not None else {}
        raise ApiError(status_of(error.code), error.code, str(error), **extra) from None


@contextmanager
def reading(db):
    with db.reader() as session, refusals():
        yield session


@contextmanager
def writing(db):
    with db.session() as session, session.begin(), refusals():
        yield session


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["release", "reject"]
    reason: str = Field(min_length=1, max_length=payment_screening.REASON_CHARS_MAX)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str = Field(examples=["escalated", "dismissed", "reported"])
    reason: str = Field(min_length=1, max_length=4_000)


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: str = Field(min_length=1, max_length=200, examples=["user:li.analyst"])


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4_000)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: AwareDatetime
    end: AwareDatetime
    merchant_id: uuid.UUID | None = Field(None, description="platform operator only: one merchant; omit for all")


@router.post("/lists", status_code=201, openapi_extra={"requestBody": {"content": {"text/csv": {}}, "required": True}})
async def upload_list(request: Request, who: Reviewer, db: DatabaseDep,
                      name: Annotated[str, Query(min_length=1, max_length=120)]) -> dict:
    """A list as CSV (OFAC sdn.csv, a UN/EU/UK consolidated list, or name,aliases,type,country,dob,list);
    replaces the caller's list of that name. The platform's lists screen every merchant."""
    body = await request.body()
    if len(body) > watch_lists.UPLOAD_BYTES_MAX:
        raise ApiError(413, "list_too_large", f"a list upload is at most {watch_lists.UPLOAD_BYTES_MAX} bytes")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, "malformed_list", "the list is not UTF-8 text") from None

    def store() -> dict:
        with writing(db) as session:
            return views.list_view(watch_lists.upload_list(session, who.scope, name, text, who.actor))
    return await run_in_threadpool(store)


@router.get("/lists")
def get_lists(who: Reviewer, db: DatabaseDep) -> dict:
    """Uploaded lists the caller's screenings use, and the names of the configured list files."""
    with reading(db) as session:
        stored = watch_lists.stored_lists(session, who.scope)
    return {"data": [views.list_view(s) for s in stored], "files": [p.name for p in watch_lists.watch_lists().files]}


@router.get("/screenings")
def list_screenings(
    who: Reviewer, db: DatabaseDep, limit: Limit = 50, cursor: uuid.UUID | None = None, merchant_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(pattern="^(clear|held|released|rejected)$")] = None,
) -> dict:
    with reading(db) as session:
        rows, next_cursor = payment_screening.list_screenings(session, merchant_filter(who, merchant_id), status=status,
                                                              limit=limit, cursor=cursor)
        return {"data": [views.screening_view(r) for r in rows], "next_cursor": next_cursor}


@router.get("/screenings/{screening_id}")
def get_screening(screening_id: uuid.UUID, who: Reviewer, db: DatabaseDep) -> dict:
    with reading(db) as session:
        row = payment_screening.get_screening(session, screening_id, who.scope)
        return views.screening_view(row, payment_screening.screening_hits(session, row.id))


@router.post("/screenings/{screening_id}/review")
async def review_screening(screening_id: uuid.UUID, body: Review, who: Reviewer, ctx: Ctx) -> dict:
    """Release (the payment goes on to its channels) or reject (it fails) a held screening."""
    with refusals():
        payment = await review_held_payment(ctx, who.scope, screening_id, body.decision, who.actor, body.reason)
    view = await ctx.db.run(_screening_view, ctx.db, screening_id, who.scope)
    return view | {"payment": payment_view(payment) if payment is not None else None}


def _screening_view(db, screening_id: uuid.UUID, scope) -> dict:
    with reading(db) as session:
        row = payment_screening.get_screening(session, screening_id, scope)
        return views.screening_view(row, payment_screening.screening_hits(session, row.id))


@router.get("/alerts")
def list_alerts(who: Reviewer, db: DatabaseDep, scenario: str | None = None, limit: Limit = 50,
                cursor: uuid.UUID | None = None, merchant_id: uuid.UUID | None = None) -> dict:
    with reading(db) as session:
        rows, next_cursor = case_store.list_alerts(session, merchant_filter(who, merchant_id), scenario=scenario,
                                                   limit=limit, cursor=cursor)
        return {"data": [views.alert_view(r) for r in rows], "next_cursor": next_cursor}


@router.get("/cases")
def list_cases(
    who: Reviewer, db: DatabaseDep, limit: Limit = 50, cursor: uuid.UUID | None = None, merchant_id: uuid.UUID | None = None,
    status: Annotated[str | None, Query(pattern="^(pending|escalated|dismissed|reported)$")] = None,
) -> dict:
    with reading(db) as session:
        rows, next_cursor = case_store.list_cases(session, merchant_filter(who, merchant_id), status=status, limit=limit,
                                                  cursor=cursor)
        return {"data": [views.case_view(r) for r in rows], "next_cursor": next_cursor}


@router.get("/cases/{case_id}")
def get_case(case_id: uuid.UUID, who: Reviewer, db: DatabaseDep) -> dict:
    """One case with its alerts, the movements they cite, and its audit trail."""
    with reading(db) as session:
        return _case_body(session, case_store.get_case(session, case_id, who.scope))


def _case_body(session, row) -> dict:
    return views.case_view(row, case_store.case_alerts(session, row.id), case_store.case_events(session, row.id))


@router.post("/cases/{case_id}/decision")
def decide_case(case_id: uuid.UUID, body: Decision, who: Reviewer, db: DatabaseDep) -> dict:
    """pending → escalated | dismissed; escalated → reported | dismissed. Reported and dismissed are final."""
    with writing(db) as session:
        row = case_store.decide_case(session, case_id, who.scope, body.decision, actor=who.actor, reason=body.reason,
                                     at=utcnow())
        return _case_body(session, row)


@router.post("/cases/{case_id}/owner")
def reassign_case(case_id: uuid.UUID, body: Owner, who: Reviewer, db: DatabaseDep) -> dict:
    with writing(db) as session:
        return _case_body(session, case_store.reassign_case(session, case_id, who.scope, body.owner, actor=who.actor,
                                                            at=utcnow()))


@router.post("/cases/{case_id}/comments")
def comment_case(case_id: uuid.UUID, body: Comment, who: Reviewer, db: DatabaseDep) -> dict:
    with writing(db) as session:
        return _case_body(session, case_store.comment_case(session, case_id, who.scope, body.text, actor=who.actor,
                                                           at=utcnow()))


@router.get("/cases/{case_id}/str.json")
def suspicious_report_json(case_id: uuid.UUID, who: Reviewer, db: DatabaseDep) -> dict:
    """The suspicious-transaction report of a reported case."""
    with reading(db) as session:
        return case_store.suspicious_report(session, case_id, who.scope, reporter=who.actor, at=utcnow())


@router.get("/cases/{case_id}/str.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def suspicious_report_csv(case_id: uuid.UUID, who: Reviewer, db: DatabaseDep) -> Response:
    with reading(db) as session:
        report = case_store.suspicious_report(session, case_id, who.scope, reporter=who.actor, at=utcnow())
    return Response(report_csv(report), media_type=CSV,
                    headers={"Content-Disposition": f'attachment; filename="str-{case_id}.csv"'})


@router.get("/large-value", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def large_value(who: Reviewer, db: DatabaseDep, day: Annotated[date, Query(alias="date")],
                merchant_id: uuid.UUID | None = None) -> Response:
    """Every movement of the report day (Beijing calendar day) that the large-value rules report."""
    with refusals():
        text = large_value_day(db, day, merchant_id=merchant_filter(who, merchant_id))
    return Response(text, media_type=CSV,
                    headers={"Content-Disposition": f'attachment; filename="large-value-{day.isoformat()}.csv"'})


@router.post("/monitoring/runs", status_code=201)
def run_monitoring(body: RunRequest, who: Reviewer, db: DatabaseDep) -> dict:
    """Monitor a period now (the worker does each finished day by itself); returns what was new."""
    with refusals():
        summary = monitoring_run(db, body.start, body.end, merchant_id=merchant_filter(who, body.merchant_id),
                                 actor=who.actor)
    return views.run_view(summary)
