"""What the API, CLI and console show of receivables, offers and financings, and the lists each
party sees: the supplier its receivables, the buyer what it confirmed, the funder what it funds."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from juhe.db.models import LedgerTransaction
from juhe.orders.models import B2bOrder
from juhe.scf.models import ScfFinancing, ScfReceivable
from juhe.scf.pricing import Offer, cost_summary, market_cost_minor
from juhe.trace.models import TraceEntry

LIST_MAX = 200


def offer_view(offer: Offer) -> dict:
    return {"object": "scf_offer", "kind": offer.kind, "offer_of": offer.funder_code or "buyer",
            "amount_minor": offer.amount_minor, "days": offer.days, "rate_bps": offer.rate_bps,
            "discount_minor": offer.discount_minor, "fee_minor": offer.fee_minor, "net_minor": offer.net_minor,
            "apr_bps": offer.apr_bps, "market_cost_minor": offer.market_cost_minor,
            "saving": round(float(offer.saving), 4)}


def receivable_view(receivable: ScfReceivable, order: B2bOrder, financing: ScfFinancing | None) -> dict:
    return {"object": "scf_receivable", "id": str(receivable.id), "order_id": str(order.id), "order_no": order.order_no,
            "supplier_id": str(receivable.merchant_id), "buyer_id": str(receivable.buyer_merchant_id),
            "buyer_name": order.buyer_name, "face_minor": receivable.face_minor, "currency": receivable.currency,
            "maturity_on": receivable.maturity_on.isoformat(), "order_leaf": receivable.order_leaf,
            "invoice_leaf": receivable.invoice_leaf, "financing_id": str(financing.id) if financing else None}


def financing_view(f: ScfFinancing) -> dict:
    return {"object": "scf_financing", "id": str(f.id), "kind": f.kind, "status": f.status,
            "receivable_id": str(f.receivable_id), "supplier_id": str(f.merchant_id), "buyer_id": str(f.buyer_merchant_id),
            "funder_id": str(f.funder_merchant_id) if f.funder_merchant_id else None, "currency": f.currency,
            "amount_minor": f.amount_minor, "discount_minor": f.discount_minor, "fee_minor": f.fee_minor,
            "net_minor": f.net_minor, "rate_bps": f.rate_bps, "apr_bps": f.apr_bps, "days": f.days,
            "maturity_on": f.maturity_on.isoformat(), "market_cost_minor": f.market_cost_minor,
            "created_at": f.created_at.isoformat(), "repaid_at": f.repaid_at.isoformat() if f.repaid_at else None}


def receivable_detail(session: Session, receivable: ScfReceivable) -> dict:
    financing = session.scalar(select(ScfFinancing).where(ScfFinancing.receivable_id == receivable.id))
    return receivable_view(receivable, session.get(B2bOrder, receivable.order_id), financing)


def logged_leaves(session: Session, receivable: ScfReceivable) -> dict[str, int]:
    """Where the receivable and its money stand in the Merkle log: the order's and the invoice's
    records, and the advance's and the repayment's ledger transactions once the worker logged them."""
    leaves = {"order": receivable.order_leaf, "invoice": receivable.invoice_leaf}
    steps = {f"scf:{receivable.id}:advance": "advance", f"scf:{receivable.id}:repaid": "repayment"}
    txns = dict(session.execute(select(LedgerTransaction.id, LedgerTransaction.idempotency_key)
                                .where(LedgerTransaction.idempotency_key.in_(steps))).all())
    if txns:
        for key, leaf in session.execute(select(TraceEntry.source_key, TraceEntry.leaf_index).where(
                TraceEntry.source == "ledger_transactions", TraceEntry.source_key.in_([str(t) for t in txns]))):
            leaves[steps[txns[uuid.UUID(key)]]] = leaf
    return leaves


def receivables(session: Session, merchant_id: uuid.UUID) -> list[dict]:
    """The receivables a merchant is a party to, as supplier or as buyer, newest maturity last."""
    rows = session.execute(
        select(ScfReceivable, B2bOrder, ScfFinancing).join(B2bOrder, B2bOrder.id == ScfReceivable.order_id)
        .outerjoin(ScfFinancing, ScfFinancing.receivable_id == ScfReceivable.id)
        .where(or_(ScfReceivable.merchant_id == merchant_id, ScfReceivable.buyer_merchant_id == merchant_id))
        .order_by(ScfReceivable.maturity_on, ScfReceivable.id).limit(LIST_MAX))
    return [receivable_view(*row) for row in rows]


def financings(session: Session, merchant_id: uuid.UUID) -> list[ScfFinancing]:
    """The financings a merchant is a party to: as supplier, buyer or funder."""
    return list(session.scalars(select(ScfFinancing).where(or_(
        ScfFinancing.merchant_id == merchant_id, ScfFinancing.buyer_merchant_id == merchant_id,
        ScfFinancing.funder_merchant_id == merchant_id)).order_by(ScfFinancing.created_at, ScfFinancing.id).limit(LIST_MAX)))


def cost_report(rows: list[ScfFinancing], market_apr_bps: int) -> dict:
    """What these financings cost against the market rate given (the configured one: a what-if when
    it changes; each financing keeps the market cost of the day it was accepted), overall and per kind."""
    def as_offer(f: ScfFinancing) -> Offer:
        return Offer(f.kind, None, f.amount_minor, f.days, f.rate_bps, f.discount_minor, f.fee_minor, f.net_minor,
                     f.apr_bps, market_cost_minor(f.net_minor, f.days, market_apr_bps))

    offers = [as_offer(f) for f in rows]
    kinds = sorted({o.kind for o in offers})
    return {"market_apr_bps": market_apr_bps, **cost_summary(offers),
            "by_kind": {k: cost_summary([o for o in offers if o.kind == k]) for k in kinds}}
