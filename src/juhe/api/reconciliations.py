"""Reconciliation: runs of a channel's statement against our books, and the cases finance works.

A statement covers Juhe's whole account at a channel, so runs are the platform operator's
(JUHE_PLATFORM_TOKEN). A merchant's finance sees and resolves the cases about its own money."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from juhe.api.deps import Caller, caller
from juhe.api.errors import ApiError
from juhe.api.payments import Ctx
from juhe.db.pages import PAGE_MAX, Page, keyset, split
from juhe.ledger.rules import AMOUNT_MAX
from juhe.recon import cases
from juhe.recon.models import ReconCase, ReconRun
from juhe.recon.service import ReconRunError, run_reconciliation
from juhe.recon.views import run_view

router = APIRouter(prefix="/v1/reconciliations", tags=["reconciliation"])
Finance = Annotated[Caller, Depends(caller("finance"))]


class RunIn(BaseModel):
    channel: str = Field(examples=["alipay"])
    date: date


class CaseAction(BaseModel):
    action: Literal["comment", "assign", "write_off", "adjust"]
    comment: str = Field("", max_length=cases.COMMENT_CHARS_MAX)
    owner: str | None = Field(None, description="assign: who owns the case now")
    amount_minor: int | None = Field(None, ge=-AMOUNT_MAX, le=AMOUNT_MAX, description="adjust: positive moves money into clearing")
    account_code: str | None = Field(None, description="adjust: the other account of the adjusting transaction")


@router.post("", status_code=201)
async def create_run(body: RunIn, who: Finance, ctx: Ctx) -> dict:
    """Reconcile one channel's statement of one business date; again for the same date returns the first run."""
    _platform_only(who)
    try:
        run, _created = await run_reconciliation(ctx, body.channel, body.date)
    except ReconRunError as e:
        raise ApiError(e.status, e.code, str(e)) from None
    return run_view(run)


@router.get("")
def list_runs(who: Finance, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50, cursor: uuid.UUID | None = None) -> dict:
    _platform_only(who)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(select(ReconRun), ReconRun.id, limit=limit, cursor=cursor)).all(), limit)
        return Page([run_view(r) for r in rows], next_cursor).as_json()


@router.get("/cases")
def list_cases(who: Finance, ctx: Ctx, status: str | None = None, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
               cursor: uuid.UUID | None = None) -> dict:  # fmt: skip
    query = select(ReconCase)
    if who.scope is not None:
        query = query.where(ReconCase.merchant_id == who.scope)
    if status:
        query = query.where(ReconCase.status == status)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, ReconCase.id, limit=limit, cursor=cursor)).all(), limit)
        return Page([cases.case_view(c) for c in rows], next_cursor).as_json()


@router.get("/cases/{case_id}")
def get_case(case_id: uuid.UUID, who: Finance, ctx: Ctx) -> dict:
    with ctx.db.reader() as session, _refusals():
        case = cases.find_case(session, case_id, who.scope)
        return cases.case_view(case, cases.case_events(session, case.id))


@router.post("/cases/{case_id}/actions")
def act_on_case(case_id: uuid.UUID, body: CaseAction, who: Finance, ctx: Ctx) -> dict:
    """Comment, assign, write off the difference, or resolve with an adjusting transaction."""
    with ctx.db.session() as session, session.begin(), _refusals():
        case = cases.find_case(session, case_id, who.scope, lock=True)
        cases.act(session, case, who.actor, cases.CaseAction(body.action, body.comment, body.owner or "", body.amount_minor,
                                                             body.account_code or ""))
        session.flush()
        return cases.case_view(case, cases.case_events(session, case.id))


def _platform_only(who: Caller) -> None:
    if who.scope is not None:
        raise ApiError(403, "forbidden", "a statement covers every merchant: runs are the platform operator's")


@contextmanager
def _refusals():
    """Case errors as problem+json."""
    try:
        yield
    except cases.CaseError as e:
        raise ApiError(e.status, e.code, str(e)) from None
