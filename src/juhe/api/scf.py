"""Supply-chain finance: buyers confirm receivables, suppliers take an offer, buyers repay at
maturity; every party lists what it is a party to and the supplier its cost against the market.
A receivable is named by its B2B order (one order, one receivable)."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from juhe.api.deps import DatabaseDep, ReadSessionDep, SessionDep, require
from juhe.api.errors import ApiError
from juhe.api.idempotency import run_idempotent
from juhe.api.trace import _head_covering
from juhe.db.types import utcnow
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.scf import service, views
from juhe.scf.errors import ScfError
from juhe.trace import proofs

router = APIRouter(prefix="/v1/scf", tags=["scf"])
Party = Annotated[Principal, Depends(require("business", "finance"))]
Reader = Annotated[Principal, Depends(require("business", "finance", "risk"))]


@contextmanager
def refusals():
    try:
        yield
    except ScfError as e:
        raise ApiError(e.status, e.code, str(e)) from None


def _today() -> date:
    return service.local_date(utcnow())


class ConfirmIn(BaseModel):
    order_id: uuid.UUID = Field(description="an invoiced B2B order raised against the buyer's credit code")
    maturity_on: date = Field(description="the day the buyer will pay, 1 to 366 days from today")


class AcceptIn(BaseModel):
    offer_of: str = Field(min_length=1, max_length=32, description="a funder's code, or 'buyer' for its early payment")
    amount_minor: int | None = Field(None, gt=0, le=AMOUNT_MAX, description="omit to finance the whole face")


@router.post("/receivables", status_code=201)
def confirm(body: ConfirmIn, request: Request, principal: Party, session: SessionDep):
    """The buyer confirms it owes an invoiced order and says when it pays: from then on it can be financed."""
    def effect(_scope: str):
        with refusals():
            receivable = service.confirm(session, principal.merchant_id, body.order_id, body.maturity_on, _today())
            return 201, views.receivable_detail(session, receivable)
    return run_idempotent(request, session, principal, body, effect)


@router.get("/receivables")
def list_receivables(principal: Reader, session: ReadSessionDep) -> dict:
    """The receivables this merchant is a party to, as supplier or as buyer."""
    return {"object": "list", "data": views.receivables(session, principal.merchant_id)}


@router.get("/receivables/{order_id}/proofs")
def proofs_of(order_id: uuid.UUID, principal: Reader, db: DatabaseDep) -> dict:
    """Inclusion proofs in the signed log of the order and its invoice, for the buyer and the funders to
    check offline (`juhe trace verify`) what they confirm or fund, and of the advance's and the
    repayment's ledger transactions once the worker has logged them."""
    with db.reader() as session, refusals():
        receivable = service.receivable_for(session, principal.merchant_id, order_id)
        leaves = views.logged_leaves(session, receivable)
    head = _head_covering(db, max(leaves.values()) + 1)
    with db.reader() as session:  # begun after the head: it sees every leaf the head covers
        return {"object": "scf_proofs", "order_id": str(order_id),
                **{name: proofs.inclusion_document(session, leaf, head) for name, leaf in leaves.items()}}


@router.get("/receivables/{order_id}/offers")
def offers(order_id: uuid.UUID, principal: Reader, session: ReadSessionDep,
           amount_minor: Annotated[int | None, Query(gt=0, le=AMOUNT_MAX)] = None) -> dict:
    """Every way for the supplier to be paid now, lowest APR first, each beside the market's cost."""
    with refusals():
        found = service.offers(session, principal.merchant_id, order_id, amount_minor, _today(), service.configured_rates())
    return {"object": "list", "data": [views.offer_view(o) for o in found]}


@router.post("/receivables/{order_id}/financing", status_code=201)
def accept(order_id: uuid.UUID, body: AcceptIn, request: Request, principal: Party, session: SessionDep):
    """The supplier takes one offer: the claim and the advance in one transaction, once per receivable."""
    def effect(_scope: str):
        with refusals():
            financing = service.accept(session, principal.merchant_id, order_id, body.offer_of, body.amount_minor,
                                       utcnow(), service.configured_rates())
            return 201, views.financing_view(financing)
    return run_idempotent(request, session, principal, body, effect)


@router.get("/financings")
def list_financings(principal: Reader, session: ReadSessionDep) -> dict:
    """The financings this merchant is a party to, as supplier, buyer or funder."""
    return {"object": "list", "data": [views.financing_view(f) for f in views.financings(session, principal.merchant_id)]}


@router.get("/financings/{financing_id}")
def get_financing(financing_id: uuid.UUID, principal: Reader, session: ReadSessionDep) -> dict:
    with refusals():
        return views.financing_view(service.financing_of(session, principal.merchant_id, financing_id))


@router.post("/financings/{financing_id}/repayment")
def repay(financing_id: uuid.UUID, request: Request, principal: Party, session: SessionDep):
    """The buyer pays the funder the face at maturity."""
    def effect(_scope: str):
        with refusals():
            return 200, views.financing_view(service.repay(session, principal.merchant_id, financing_id, utcnow()))
    return run_idempotent(request, session, principal, None, effect)


@router.get("/report")
def report(principal: Reader, session: ReadSessionDep) -> dict:
    """What the supplier's financings cost against the configured market rate (saving as a fraction)."""
    rows = [f for f in views.financings(session, principal.merchant_id) if f.merchant_id == principal.merchant_id]
    return {"object": "scf_cost_report", **views.cost_report(rows, service.configured_rates().market_apr_bps)}

