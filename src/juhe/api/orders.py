"""B2B orders: create one, invoice it, link the payment that paid it, and reconcile its three
flows from the Merkle log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from juhe.api.deps import DatabaseDep, ReadSessionDep, SessionDep, require
from juhe.api.errors import ApiError
from juhe.api.invoices import platform_of
from juhe.einvoice.service import Buyer, InvoiceError
from juhe.einvoice.views import invoice_view
from juhe.ledger.rules import AMOUNT_MAX
from juhe.merchants import Principal
from juhe.orders import reconcile, service
from juhe.orders.models import B2bOrder

router = APIRouter(prefix="/v1/orders", tags=["orders"])
Seller = Annotated[Principal, Depends(require("business", "finance"))]
Reader = Annotated[Principal, Depends(require("business", "finance", "risk"))]


class LineIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    tax_category_code: str = Field(min_length=19, max_length=19)
    tax_rate_bps: int = Field(ge=0, le=10_000)
    total_minor: int = Field(gt=0, le=AMOUNT_MAX, description="tax included, in fen")


class OrderIn(BaseModel):
    order_no: str = Field(min_length=1, max_length=64)
    buyer_name: str = Field(min_length=1, max_length=200)
    buyer_tax_id: str = Field(min_length=1, max_length=18)
    lines: list[LineIn] = Field(min_length=1, max_length=service.LINES_MAX)


class SettleIn(BaseModel):
    payment_id: uuid.UUID


def order_view(order: B2bOrder) -> dict:
    return {"id": str(order.id), "order_no": order.order_no, "buyer_name": order.buyer_name, "buyer_tax_id": order.buyer_tax_id,
            "lines": order.lines, "total_minor": order.total_minor, "currency": order.currency, "status": order.status,
            "invoice_id": str(order.invoice_id) if order.invoice_id else None,
            "payment_id": str(order.payment_id) if order.payment_id else None, "leaf_index": order.leaf_index}


def _call(fn, *args):
    try:
        return fn(*args)
    except InvoiceError as e:
        raise ApiError(e.status, e.code, str(e)) from None


@router.post("", status_code=201)
def create(principal: Seller, body: OrderIn, session: SessionDep) -> dict:
    order = _call(service.create_order, session, principal.merchant_id, body.order_no, Buyer(body.buyer_name, body.buyer_tax_id),
                  [x.model_dump() for x in body.lines])
    return order_view(order)


@router.get("/{order_id}")
def get(principal: Reader, order_id: uuid.UUID, session: ReadSessionDep) -> dict:
    return order_view(_call(service.get_order, session, principal.merchant_id, order_id))


@router.post("/{order_id}/invoice", status_code=201)
def invoice(principal: Seller, order_id: uuid.UUID, request: Request, db: DatabaseDep) -> dict:
    return invoice_view(_call(service.invoice_order, db, platform_of(request), principal.merchant_id, order_id,
                              f"api_key:{principal.key_id}"))


@router.post("/{order_id}/payment")
def settle(principal: Seller, order_id: uuid.UUID, body: SettleIn, session: SessionDep) -> dict:
    return order_view(_call(service.settle_order, session, principal.merchant_id, order_id, body.payment_id))


@router.get("/{order_id}/reconciliation")
def reconciliation(principal: Reader, order_id: uuid.UUID, session: ReadSessionDep) -> dict:
    _call(service.get_order, session, principal.merchant_id, order_id)
    chain = reconcile.load(session, str(order_id))
    problems = reconcile.problems(chain, str(order_id))
    return {"ok": not problems, "problems": problems,
            "flows": [{"leaf_index": f.leaf_index, "kind": f.kind, "event": f.event} for f in chain.flows()]}
