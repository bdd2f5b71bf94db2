"""AML: monitoring alerts, cases — decided here (escalate, dismiss, report, each with its reason)
— and their suspicious-transaction report (STR) as CSV, through juhe.aml.case_store as the API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from juhe.aml import case_store
from juhe.aml.errors import AmlError
from juhe.aml.suspicious_report import report_csv
from juhe.console.users import ConsoleUserView
from juhe.audit import trail
from juhe.aml.cases import TRANSITIONS
from juhe.console.web import Forbidden, acting, audit_record, database, permitted, render
from juhe.db.types import utcnow

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("aml.view"))]
Reviewer = Annotated[ConsoleUserView, Depends(acting("aml.decide"))]
ROWS = 50


@router.get("/aml")
def aml_page(request: Request, user: Viewer):
    return _page(request, user)


def _page(request: Request, user: ConsoleUserView, status_code: int = 200, error: str | None = None):
    with database(request).reader() as session:
        alerts, _ = case_store.list_alerts(session, user.merchant_id, scenario=None, limit=ROWS, cursor=None)
        cases, _ = case_store.list_cases(session, user.merchant_id, status=None, limit=ROWS, cursor=None)
    return render(request, "aml.html", user, status_code, alerts=alerts, cases=cases, next_decisions=TRANSITIONS, error=error)


@router.post("/aml/cases/{case_id}/decision")
def decide(case_id: uuid.UUID, request: Request, user: Reviewer, decision: Annotated[str, Form(max_length=20)],
           reason: Annotated[str, Form(max_length=2000)] = ""):
    try:
        with database(request).session() as session, session.begin():
            case_store.decide_case(session, case_id, user.merchant_id, decision, actor=f"console:{user.login}",
                                   reason=reason, at=utcnow())
            trail.append(session, [audit_record(request, user, f"aml_case.{decision}", "aml_case", case_id)])
    except AmlError as refusal:
        if refusal.code == "case_not_found":
            raise Forbidden() from None  # another merchant's case: nothing to say about it
        return _page(request, user, 422 if refusal.code != "illegal_transition" else 409, str(refusal))
    return RedirectResponse("/console/aml", status_code=303)


@router.get("/aml/cases/{case_id}/str.csv")
def suspicious_report_csv(case_id: uuid.UUID, request: Request, user: Viewer):
    try:
        with database(request).reader() as session:
            report = case_store.suspicious_report(session, case_id, user.merchant_id, reporter=f"console:{user.login}",
                                                  at=utcnow())
    except AmlError as refusal:
        return Response(str(refusal), status_code=404 if refusal.code == "case_not_found" else 409)
    return Response(report_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="str-{case_id}.csv"'})
