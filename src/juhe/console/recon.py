"""Reconciliation: runs per channel and date (the platform's), and the discrepancy cases finance
works through — comment, assign, write off, adjust — with the recon domain's own functions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.audit import trail
from juhe.console.web import acting, audit_record, database, permitted, render
from juhe.db.pages import keyset, split
from juhe.money import Money, MoneyError
from juhe.recon import cases
from juhe.recon.models import ReconCase, ReconRun

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("recon.view"))]
Resolver = Annotated[ConsoleUserView, Depends(acting("recon.resolve"))]
ROWS = 50
CASE_STATUSES = ("open", "auto_resolved", "adjusted", "written_off")


@router.get("/recon")
def recon_page(request: Request, user: Viewer, status: str = "open", cursor: uuid.UUID | None = None):
    query = select(ReconCase)
    if user.merchant_id is not None:
        query = query.where(ReconCase.merchant_id == user.merchant_id)
    if status:
        query = query.where(ReconCase.status == status)
    with database(request).reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, ReconCase.id, limit=ROWS, cursor=cursor)).all(), ROWS)
        # A statement covers every merchant, so runs are the platform operator's to see.
        runs = session.scalars(select(ReconRun).order_by(ReconRun.id.desc()).limit(ROWS)).all() if user.merchant_id is None else []
    return render(request, "recon.html", user, cases=rows, runs=runs, status=status, statuses=CASE_STATUSES, next_cursor=next_cursor)


@router.get("/recon/cases/{case_id}")
def case_page(case_id: uuid.UUID, request: Request, user: Viewer, error: str = ""):
    with database(request).reader() as session:
        try:
            case = cases.find_case(session, case_id, user.merchant_id)
        except cases.CaseError:
            return render(request, "not_found.html", user, 404)
        events = cases.case_events(session, case.id)
    return render(request, "recon_case.html", user, case=case, events=events, error=error)


@router.post("/recon/cases/{case_id}/actions")
def act_on_case(case_id: uuid.UUID, request: Request, user: Resolver,
                action: Annotated[str, Form(pattern="^(comment|assign|write_off|adjust)$")],
                comment: Annotated[str, Form(max_length=cases.COMMENT_CHARS_MAX)] = "",
                owner: Annotated[str, Form(max_length=64)] = "", amount: Annotated[str, Form(max_length=24)] = "",
                account_code: Annotated[str, Form(max_length=200)] = ""):
    back = request.url_for("case_page", case_id=case_id)
    actor = f"console:{user.login}"
    try:
        with database(request).session() as session, session.begin():
            case = cases.find_case(session, case_id, user.merchant_id, lock=True)
            amount_minor = Money.parse(amount.strip(), case.currency).amount_minor if amount.strip() else None
            cases.act(session, case, actor, cases.CaseAction(action, comment, owner, amount_minor, account_code))
            trail.append(session, [audit_record(request, user, f"recon.case.{action}", "reconciliation_case", case_id)])
    except (cases.CaseError, MoneyError) as refusal:
        return RedirectResponse(back.include_query_params(error=str(refusal)), status_code=303)
    return RedirectResponse(back, status_code=303)
