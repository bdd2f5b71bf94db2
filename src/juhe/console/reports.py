"""Reports: the last twelve months' transaction reviews and the last four quarters' compliance
reports, each a PDF made on request by juhe.reports (the same as `juhe report`). A merchant's
users get their merchant's; the platform operator gets the platform's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from juhe.console.users import ConsoleUserView
from juhe.console.web import database, permitted, render
from juhe.reports import service
from juhe.reports.periods import ReportError, recent_months, recent_quarters

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("reports.view"))]
Monthly = Annotated[ConsoleUserView, Depends(permitted("reports.monthly"))]
Compliance = Annotated[ConsoleUserView, Depends(permitted("reports.compliance"))]
MONTHS, QUARTERS = 12, 4


@router.get("/reports")
def reports_page(request: Request, user: Viewer):
    return render(request, "reports.html", user, months=recent_months(MONTHS), quarters=recent_quarters(QUARTERS))


@router.get("/reports/monthly/{month}.pdf")
def monthly_pdf(month: str, request: Request, user: Monthly):
    return _pdf(request, user, "monthly", month, service.monthly)


@router.get("/reports/compliance/{quarter}.pdf")
def compliance_pdf(quarter: str, request: Request, user: Compliance):
    return _pdf(request, user, "compliance", quarter, service.compliance)


def _pdf(request: Request, user: ConsoleUserView, kind: str, label: str, make):
    try:
        pdf, _ = make(database(request), label, user.merchant_id)
    except ReportError:  # a period that is not one, or has not begun: no such report
        return render(request, "not_found.html", user, 404)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{service.file_name(kind, label)}"'})
