"""Treasury (资金规划) for finance: the advice on the merchant's balance per currency (reserve, placements,
expected yield, idle before and after, an early warning) and 13 weeks of forecast with a chart of the
balance's 95 % band. The same figures as GET /v1/treasury/advice and /forecast and `juhe treasury`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from juhe.config import get_settings
from juhe.console.users import ConsoleUserView
from juhe.console.web import database, permitted, render
from juhe.db.types import utcnow
from juhe.settlement.calendar import business_date
from juhe.treasury.advice import advise, products
from juhe.treasury.forecast import ForecastError
from juhe.treasury.forecast_ledger import forecast_view, merchant_forecasts

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("treasury.view"))]
CHART_W, CHART_H = 640, 160  # the balance chart's drawing area in SVG units


@router.get("/treasury")
def treasury_page(request: Request, user: Viewer):
    today = business_date(utcnow())
    try:
        catalogue = products(get_settings().treasury_rates)
        plans = [{"advice": advise(flows.balance_minor, flows.currency, by_direction["balance"], today, catalogue,
                                   by_direction["unswept"]),
                  "forecast": forecast_view(flows, by_direction), "chart": balance_chart(by_direction["balance"])}
                 for flows, by_direction in merchant_forecasts(database(request), user.merchant_id, today)]
        refusal = None
    except ForecastError as error:  # no history yet, or too little: said on the page, not a 500
        plans, refusal = [], f"{error.code}: {error}"
    return render(request, "treasury.html", user, plans=plans, refusal=refusal)


def balance_chart(balance) -> dict:
    """SVG points of the low balance's mean and its 95 % band, scaled into the drawing area."""
    lows, highs, mean = balance.bounds["lo-95"], balance.bounds["hi-95"], balance.mean
    top, bottom = max(highs), min(0.0, min(lows))
    span = (top - bottom) or 1.0
    x = lambda i: round(i * CHART_W / max(1, len(mean) - 1), 1)  # noqa: E731
    y = lambda v: round(CHART_H - (v - bottom) * CHART_H / span, 1)  # noqa: E731
    band = [(x(i), y(v)) for i, v in enumerate(highs)] + [(x(i), y(v)) for i, v in reversed(list(enumerate(lows)))]
    return {"width": CHART_W, "height": CHART_H, "zero_y": y(0.0),
            "band": " ".join(f"{a},{b}" for a, b in band), "mean": " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(mean))}
