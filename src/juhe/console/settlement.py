"""Settlement: batches per merchant, store or business line (gross, fees, net, payout status and
the bank's reason), and — for the platform operator — the daily reserve-fund (备付金) proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.console.web import database, permitted, render
from juhe.settlement.models import ReserveProofRow, SettlementBatch

router = APIRouter(prefix="/console")
Viewer = Annotated[ConsoleUserView, Depends(permitted("settlement.view"))]
ROWS = 100


@router.get("/settlement")
def settlement_page(request: Request, user: Viewer):
    query = select(SettlementBatch).order_by(SettlementBatch.id.desc()).limit(ROWS)
    if user.merchant_id is not None:
        query = query.where(SettlementBatch.merchant_id == user.merchant_id)
    with database(request).reader() as session:
        batches = session.scalars(query).all()
        # A reserve proof covers every merchant's money at the bank: the operator's to see.
        proofs = session.scalars(select(ReserveProofRow).order_by(ReserveProofRow.day.desc()).limit(ROWS)).all() \
            if user.merchant_id is None else []
    return render(request, "settlement.html", user, batches=batches, proofs=proofs)
