"""Settlement: batches per merchant, store or business line (gross, fees, net, payout status and
the bank's reason) with each one's statement as CSV, and — for the platform operator — the daily
reserve-fund (备付金) proofs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from juhe.console.users import ConsoleUserView
from juhe.console.web import Forbidden, database, permitted, render
from juhe.settlement.models import ReserveProofRow, SettlementBatch
from juhe.settlement.views import batch_statement

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


@router.get("/settlement/{batch_id}/statement.csv")
def statement(batch_id: uuid.UUID, request: Request, user: Viewer):
    """What the merchant, store or line was paid for, item by item, as the API's statement."""
    with database(request).reader() as session:
        batch = session.get(SettlementBatch, batch_id)
        if batch is None or (user.merchant_id is not None and batch.merchant_id != user.merchant_id):
            raise Forbidden()  # another merchant's batch: nothing to say about it
        text, name = batch_statement(session, batch)
    return Response(text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})
