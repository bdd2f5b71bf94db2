"""BNPL and subscriptions in the console (business, finance; risk also sees BNPL): credit lines
with their decision, orders with what is owed, repayments; subscriptions and their invoices.
Read-only: the actions are the API's (/v1/bnpl, /v1/billing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from juhe.bnpl.models import BnplLine, BnplOrder, BnplRepayment
from juhe.bnpl.views import line_view, order_view
from juhe.console.users import ConsoleUserView
from juhe.console.web import database, permitted, render
from juhe.subscriptions.models import Invoice, Plan, Subscription

router = APIRouter(prefix="/console")
BnplViewer = Annotated[ConsoleUserView, Depends(permitted("bnpl.view"))]
SubscriptionViewer = Annotated[ConsoleUserView, Depends(permitted("subscriptions.view"))]
ROWS_MAX = 100  # the newest of each; the API pages through the rest


@router.get("/bnpl")
def bnpl_page(request: Request, user: BnplViewer):
    with database(request).reader() as session:
        lines = session.scalars(select(BnplLine).where(BnplLine.merchant_id == user.merchant_id)
                                .order_by(BnplLine.id.desc()).limit(ROWS_MAX)).all()
        orders = session.scalars(select(BnplOrder).where(BnplOrder.merchant_id == user.merchant_id)
                                 .order_by(BnplOrder.id.desc()).limit(ROWS_MAX)).all()
        repayments = session.scalars(select(BnplRepayment).where(BnplRepayment.merchant_id == user.merchant_id)
                                     .order_by(BnplRepayment.created_at.desc()).limit(ROWS_MAX)).all()
        return render(request, "bnpl.html", user, lines=[line_view(x) for x in lines], orders=[order_view(o) for o in orders],
                      repayments=repayments)


@router.get("/subscriptions")
def subscriptions_page(request: Request, user: SubscriptionViewer):
    with database(request).reader() as session:
        subs = session.scalars(select(Subscription).where(Subscription.merchant_id == user.merchant_id)
                               .order_by(Subscription.id.desc()).limit(ROWS_MAX)).all()
        plans = {p.id: p.code for p in session.scalars(select(Plan).where(Plan.merchant_id == user.merchant_id))}
        invoices = session.scalars(select(Invoice).where(Invoice.merchant_id == user.merchant_id)
                                   .order_by(Invoice.created_at.desc()).limit(ROWS_MAX)).all()
        return render(request, "subscriptions.html", user, subscriptions=subs, plans=plans, invoices=invoices)
