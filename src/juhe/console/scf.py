"""Supply-chain finance in the console, one page for whichever parts the merchant plays: as buyer,
the invoiced orders its suppliers raised against its credit code to confirm and the financings to
repay at maturity; as supplier, its confirmed receivables with every offer to take and what its
financings cost against the market; as funder, what it advanced and what it is owed. Each action
is juhe.scf.service's, as the API's, and goes into the audit trail."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from juhe.audit import trail
from juhe.console.users import ConsoleUserView
from juhe.console.web import acting, audit_record, database, permitted, render
from juhe.db.types import utcnow
from juhe.orders.models import B2bOrder
from juhe.scf import service, views
from juhe.scf.errors import ScfError
from juhe.scf.models import ScfBuyer, ScfFunder, ScfReceivable

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("scf.view"))]
Actor = Annotated[ConsoleUserView, Depends(acting("scf.act"))]
ROWS_MAX = 100


@router.get("/scf")
def scf_page(request: Request, user: Viewer):
    return _page(request, user)


def _page(request: Request, user: ConsoleUserView, status_code: int = 200, error: str | None = None):
    m, today, rates = user.merchant_id, service.local_date(utcnow()), service.configured_rates()
    with database(request).reader() as session:
        buyer, funder = session.get(ScfBuyer, m), session.get(ScfFunder, m)
        receivables = views.receivables(session, m)
        offers = {r["order_id"]: _offers(session, m, uuid.UUID(r["order_id"]), today, rates)
                  for r in receivables if r["supplier_id"] == str(m) and r["financing_id"] is None}
        financings = views.financings(session, m)
        to_confirm = _to_confirm(session, buyer) if buyer else []
        report = views.cost_report([f for f in financings if f.merchant_id == m], rates.market_apr_bps)
    return render(request, "scf.html", user, status_code, buyer=buyer, funder=funder, receivables=receivables,
                  offers=offers, financings=[views.financing_view(f) for f in financings], to_confirm=to_confirm,
                  report=report, today=today.isoformat(), error=error)


def _offers(session, supplier: uuid.UUID, order_id: uuid.UUID, today: date, rates) -> list[dict]:
    try:
        return [views.offer_view(o) for o in service.offers(session, supplier, order_id, None, today, rates)]
    except ScfError:  # matured or paid meanwhile: nothing to offer
        return []


def _to_confirm(session, buyer: ScfBuyer) -> list[B2bOrder]:
    confirmed = select(ScfReceivable.order_id)
    return list(session.scalars(select(B2bOrder).where(
        B2bOrder.buyer_tax_id == buyer.tax_id, B2bOrder.invoice_id.is_not(None), B2bOrder.status != "paid",
        B2bOrder.id.not_in(confirmed)).order_by(B2bOrder.created_at).limit(ROWS_MAX)))


def _act(request: Request, user: ConsoleUserView, action: str, do):
    """One SCF step in one transaction with its audit record; a refusal is shown on the page, nothing changed."""
    try:
        with database(request).session() as session, session.begin():
            object_type, object_id = do(session)
            trail.append(session, [audit_record(request, user, action, object_type, object_id)])
    except ScfError as refusal:
        return _page(request, user, refusal.status, error=f"{refusal.code}: {refusal}")
    return RedirectResponse("/console/scf", status_code=303)


@router.post("/scf/confirm")
def confirm(request: Request, user: Actor, order_id: Annotated[uuid.UUID, Form()], maturity_on: Annotated[date, Form()]):
    return _act(request, user, "scf_receivable.confirm", lambda s: (
        "scf_receivable", service.confirm(s, user.merchant_id, order_id, maturity_on, service.local_date(utcnow())).id))


@router.post("/scf/accept")
def accept(request: Request, user: Actor, order_id: Annotated[uuid.UUID, Form()],
           offer_of: Annotated[str, Form(max_length=32)]):
    return _act(request, user, "scf_financing.accept", lambda s: (
        "scf_financing", service.accept(s, user.merchant_id, order_id, offer_of, None, utcnow(), service.configured_rates()).id))


@router.post("/scf/repay")
def repay(request: Request, user: Actor, financing_id: Annotated[uuid.UUID, Form()]):
    return _act(request, user, "scf_financing.repay", lambda s: (
        "scf_financing", service.repay(s, user.merchant_id, financing_id, utcnow()).id))
