"""Cash-flow forecast and advice (资金规划) for the calling merchant: 13 weeks of flows with 80 %/95 %
intervals, and the reserve, placements and early warning the forecast's 95 % worst case leads to.

Both fit models from the ledger's history (seconds to tens of seconds): plain `def`, so they run on a
worker thread and the event loop serves payments meanwhile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from juhe.api.deps import DatabaseDep, require
from juhe.api.errors import ApiError
from juhe.config import get_settings
from juhe.db.types import utcnow
from juhe.merchants import Principal
from juhe.settlement.calendar import business_date
from juhe.treasury.advice import merchant_advice
from juhe.treasury.forecast import ForecastError
from juhe.treasury.forecast_ledger import merchant_forecast_views

router = APIRouter(prefix="/v1/treasury", tags=["treasury"])
Finance = Annotated[Principal, Depends(require("finance"))]


@router.get("/forecast")
def forecast(principal: Finance, db: DatabaseDep) -> dict:
    """Per currency: daily and weekly inflow, outflow and low balance forecasts in minor units, each with the
    model its backtest chose."""
    return {"merchant_id": str(principal.merchant_id), "currencies": _refused_as_422(
        merchant_forecast_views, db, principal)}


@router.get("/advice")
def advice(principal: Finance, db: DatabaseDep) -> dict:
    """Per currency: the reserve the 95 % worst case needs, what to place for how long and its expected yield at
    JUHE_TREASURY_RATES, the idle balance before and after, and a warning with the day the worst case runs short."""
    rates = get_settings().treasury_rates
    return {"merchant_id": str(principal.merchant_id), "currencies": _refused_as_422(
        lambda db, merchant_id, today: merchant_advice(db, merchant_id, today, rates), db, principal)}


def _refused_as_422(compute, db, principal: Principal) -> list[dict]:
    try:
        return compute(db, principal.merchant_id, business_date(utcnow()))
    except ForecastError as error:  # no history, too short a history, a bad rate: the caller's data, not our fault
        raise ApiError(422, error.code, str(error)) from None
