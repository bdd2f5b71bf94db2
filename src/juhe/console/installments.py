"""Installment plans (business, finance): each plan's channel, fee bearer and rates per period,
and the schedule a payer would see for an amount (juhe.installments, as the API's quote)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from juhe.console.users import ConsoleUserView
from juhe.console.web import database, permitted, render
from juhe.db.types import utcnow
from juhe.installments import plans
from juhe.money import Money, MoneyError

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("installments.view"))]
PREVIEW_DEFAULT = "1000.00"


@router.get("/installments")
def plans_page(request: Request, user: Viewer, amount: str = PREVIEW_DEFAULT):
    error = None
    try:
        principal = Money.parse(amount, "CNY")
        if principal.amount_minor <= 0:
            raise MoneyError("the amount must be positive")
    except MoneyError as exc:
        principal, error = Money.parse(PREVIEW_DEFAULT, "CNY"), str(exc)
    today = utcnow().date()
    with database(request).reader() as session:
        found = plans.merchant_plans(session, user.merchant_id)
    shown = [(p, [_with_apr_percent(plans.plan_quote(p, principal, o["periods"], today)) for o in p.options]) for p in found]
    return render(request, "installments.html", user, 422 if error else 200, plans=shown, amount=principal.decimal_text(),
                  error=error)


def _with_apr_percent(quote):
    return quote, f"{(quote.apr * 100).quantize(Decimal('0.01'))} %"
