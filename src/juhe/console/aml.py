"""AML: monitoring alerts, cases and their suspicious-transaction report (STR) as CSV, read with
juhe.aml.case_store as the API reads them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from juhe.aml import case_store
from juhe.aml.errors import AmlError
from juhe.aml.suspicious_report import report_csv
from juhe.console.users import ConsoleUserView
from juhe.console.web import database, permitted, render
from juhe.db.types import utcnow

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("aml.view"))]
ROWS = 50


@router.get("/aml")
def aml_page(request: Request, user: Viewer):
    with database(request).reader() as session:
        alerts, _ = case_store.list_alerts(session, user.merchant_id, scenario=None, limit=ROWS, cursor=None)
        cases, _ = case_store.list_cases(session, user.merchant_id, status=None, limit=ROWS, cursor=None)
    return render(request, "aml.html", user, alerts=alerts, cases=cases)


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
