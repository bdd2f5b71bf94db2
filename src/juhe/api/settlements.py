"""Settlements: the merchant's batches, statements and payout files, its settlement profile,
releases of unreconciled items, and settlement runs (platform operators or a merchant's admin)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from juhe.api.deps import Caller, caller, require
from juhe.api.errors import ApiError
from juhe.api.payments import Ctx
from juhe.db.pages import PAGE_MAX, Page, keyset, split
from juhe.merchants import Principal
from juhe.recon import models as _recon  # noqa: F401 -- the tables a run reads
from juhe.settlement import payouts
from juhe.settlement.calendar import CalendarError
from juhe.settlement.errors import SettlementError
from juhe.settlement.models import ReserveProofRow, PayoutFile, SettlementBatch, SettlementProfile
from juhe.settlement.profiles import ProfileIn, profile_view, set_profile
from juhe.settlement.releases import release_item, release_view
from juhe.settlement.reserve import ReserveError, prove_reserve, reserve_proof_view
from juhe.settlement.service import run_settlement
from juhe.channels.base import ChannelError
from juhe.settlement.views import batch_statement, batch_view

router = APIRouter(prefix="/v1/settlements", tags=["settlements"])
log = structlog.get_logger()
Finance = Annotated[Principal, Depends(require("finance"))]
Runner = Annotated[Caller, Depends(caller())]  # the platform operator, or a merchant's admin
STATUSES = ("carried_forward", "nil", "held", "submitted", "paid", "rejected")


class RunIn(BaseModel):
    date: date


class ReleaseIn(BaseModel):
    kind: Literal["payment", "refund"]
    payment_id: uuid.UUID | None = None
    refund_id: uuid.UUID | None = None
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_item(self) -> ReleaseIn:
        wanted = self.payment_id if self.kind == "payment" else self.refund_id
        if wanted is None:
            raise ValueError(f"a {self.kind} release names its {self.kind}_id")
        return self


class PayoutIn(BaseModel):
    name: str = Field(min_length=1, max_length=140)
    account: str = Field(min_length=1, max_length=64)
    bank: str = Field(min_length=1, max_length=16, description="BIC or 12-digit CNAPS bank code")


class ProfileBody(BaseModel):
    cycle: Literal["T+0", "T+1", "T+3"] = "T+1"
    split_by: Literal["merchant", "store", "line"] = "merchant"
    timezone: str = Field("Asia/Shanghai", max_length=64)
    cutoff: str = Field("00:00", description="HH:MM local; 00:00 means the calendar day")
    currency: str = Field("CNY", min_length=3, max_length=3)
    payout: PayoutIn


def _failure(error: SettlementError | CalendarError) -> ApiError:
    if isinstance(error, CalendarError):
        return ApiError(422, error.code, str(error))
    extra = {"errors": error.errors} if error.errors else {}
    return ApiError(error.status, error.code, str(error), **extra)


@router.post("/runs")
async def create_run(body: RunIn, ctx: Ctx, who: Runner) -> dict:
    """Settle a date for every merchant (platform operator) or one's own (its admin); a rerun of
    the date answers the same batches and moves nothing. Then file and send what was held."""
    try:
        result = await run_in_threadpool(run_settlement, ctx, body.date, merchant_id=who.scope)
    except SettlementError as error:
        raise _failure(error) from None
    try:
        await payouts.poll_payouts(ctx)
    except Exception:  # the run is committed; the worker files and sends what is held on its next round
        log.exception("settlement.payout_filing_failed", date=body.date.isoformat())
    return result.as_json()


@router.post("/reserve-proofs", status_code=201)
async def create_reserve_proof(body: RunIn, ctx: Ctx, who: Runner) -> dict:
    """Prove a day's customer reserve funds (备付金) against the reserve account's camt.053 from the bank."""
    _platform_only(who)
    if "bank" not in ctx.channels:
        raise ApiError(503, "bank_not_configured", "no corporate bank channel is configured")
    try:
        statement = await ctx.channels["bank"].download_statement(body.date)
    except ChannelError as error:
        raise ApiError(502, "statement_unavailable", f"bank statement of {body.date}: {error}") from None
    try:
        return await ctx.db.run(_prove, ctx, body.date, statement)
    except ReserveError as error:
        raise ApiError(422, error.code, str(error)) from None


@router.get("/reserve-proofs")
def list_reserve_proofs(ctx: Ctx, who: Runner, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50) -> dict:
    _platform_only(who)
    with ctx.db.reader() as session:
        rows = session.scalars(select(ReserveProofRow).order_by(ReserveProofRow.day.desc(), ReserveProofRow.currency).limit(limit))
        return {"data": [reserve_proof_view(row) for row in rows]}


def _platform_only(who: Caller) -> None:
    if who.scope is not None:
        raise ApiError(403, "forbidden", "the reserve account holds every merchant's funds: its proof is the platform operator's")


@router.post("/releases", status_code=201)
def create_release(body: ReleaseIn, principal: Finance, ctx: Ctx) -> dict:
    item_id = body.payment_id if body.kind == "payment" else body.refund_id
    try:
        with ctx.db.session() as session, session.begin():
            release = release_item(session, principal.merchant_id, body.kind, item_id, body.reason, f"api_key:{principal.key_id}")
            return release_view(release)
    except SettlementError as error:
        raise _failure(error) from None


@router.get("/profile")
def get_profile(principal: Finance, ctx: Ctx) -> dict:
    with ctx.db.reader() as session:
        row = session.get(SettlementProfile, principal.merchant_id)
    if row is None:
        raise ApiError(404, "settlement_profile_not_found", "no settlement profile yet: PUT one")
    return profile_view(row)


@router.put("/profile")
def put_profile(body: ProfileBody, principal: Finance, ctx: Ctx) -> dict:
    wanted = ProfileIn(body.payout.name, body.payout.account, body.payout.bank, body.currency, body.cycle, body.split_by,
                       body.timezone, body.cutoff)
    try:
        with ctx.db.session() as session, session.begin():
            return profile_view(set_profile(session, principal.merchant_id, wanted))
    except SettlementError as error:
        raise _failure(error) from None


@router.get("")
def list_settlements(
    principal: Finance, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50, cursor: uuid.UUID | None = None,
    status: Annotated[str | None, Query(pattern=f"^({'|'.join(STATUSES)})$")] = None,
    settlement_date: date | None = None,
) -> dict:
    query = select(SettlementBatch).where(SettlementBatch.merchant_id == principal.merchant_id)
    if status:
        query = query.where(SettlementBatch.status == status)
    if settlement_date:
        query = query.where(SettlementBatch.settlement_date == settlement_date)
    with ctx.db.reader() as session:
        rows, next_cursor = split(session.scalars(keyset(query, SettlementBatch.id, limit=limit, cursor=cursor)).all(), limit)
    return Page([batch_view(b) for b in rows], next_cursor).as_json()


@router.get("/{settlement_id}")
def get_settlement(settlement_id: uuid.UUID, principal: Finance, ctx: Ctx) -> dict:
    return batch_view(_own(ctx, principal, settlement_id))


@router.get("/{settlement_id}/statement.csv", response_class=Response)
def get_statement(settlement_id: uuid.UUID, principal: Finance, ctx: Ctx) -> Response:
    batch = _own(ctx, principal, settlement_id)
    with ctx.db.reader() as session:
        text, name = batch_statement(session, batch)
    return Response(text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{settlement_id}/payout-file", response_class=Response)
def get_payout_file(settlement_id: uuid.UUID, principal: Finance, ctx: Ctx) -> Response:
    """The pain.001 exactly as sent to the bank (it may carry the merchant's other batches of the day)."""
    batch = _own(ctx, principal, settlement_id)
    with ctx.db.reader() as session:
        payout = session.get(PayoutFile, batch.payout_file_id) if batch.payout_file_id else None
    if payout is None:
        raise ApiError(404, "payout_file_not_found", f"settlement {settlement_id} has no payout file ({batch.status})")
    return Response(payout.document, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{payout.msg_id}.xml"'})


def _own(ctx, principal: Principal, settlement_id: uuid.UUID) -> SettlementBatch:
    with ctx.db.reader() as session:
        batch = session.get(SettlementBatch, settlement_id)
    if batch is None or batch.merchant_id != principal.merchant_id:
        raise ApiError(404, "settlement_not_found", f"no settlement {settlement_id}")
    return batch


def _prove(ctx, day, statement) -> dict:
    with ctx.db.session() as session, session.begin():
        return prove_reserve(session.connection(), day, statement).as_json()
