"""The three flows of a B2B order reconciled from the Merkle log's records alone (三流一致): the
order, the invoice that names the order's leaf, and the payment named by the settlement record.
Loading reads the records and checks each against its leaf hash; `problems` is a pure pass that
returns every disagreement it finds, not just the first."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.orders.models import B2bOrder
from juhe.trace import merkle
from juhe.trace.models import TraceEntry


@dataclass(frozen=True, slots=True)
class Flow:
    leaf_index: int
    kind: str
    event: str
    record: dict


@dataclass(slots=True)
class Chain:
    order: Flow | None = None
    invoice: Flow | None = None
    settlement: Flow | None = None
    payment: Flow | None = None
    damaged: list[str] = field(default_factory=list)  # leaves whose record no longer hashes to the leaf

    def flows(self) -> list[Flow]:
        return [f for f in (self.order, self.invoice, self.payment, self.settlement) if f is not None]


def _flow(entry: TraceEntry, chain: Chain) -> Flow:
    if merkle.leaf_hash(entry.data.encode()) != bytes(entry.leaf_hash):
        chain.damaged.append(f"leaf {entry.leaf_index}: its record does not hash to the leaf (edited)")
    return Flow(entry.leaf_index, entry.kind, entry.event, json.loads(entry.data))


def load(session: Session, order_id: str) -> Chain:
    chain = Chain()
    for entry in session.scalars(select(TraceEntry).where(TraceEntry.kind == "order", TraceEntry.object_id == order_id)
                                 .order_by(TraceEntry.leaf_index)):
        flow = _flow(entry, chain)
        if flow.event == "created":
            chain.order = flow
        elif flow.event == "paid":
            chain.settlement = flow
    # Before it is settled, the order's row says which invoice is its own; the record must agree.
    row = session.get(B2bOrder, _uuid(order_id))
    invoice = session.scalar(select(TraceEntry).where(TraceEntry.kind == "invoice", TraceEntry.object_id == str(row.invoice_id))
                             .limit(1)) if row is not None and row.invoice_id else None
    if chain.settlement is not None:
        named = _at(session, chain.settlement.record.get("invoice_leaf"))
        invoice = named if named is not None else invoice
        payment = _at(session, chain.settlement.record.get("payment_leaf"))
        chain.payment = _flow(payment, chain) if payment is not None else None
    chain.invoice = _flow(invoice, chain) if invoice is not None else None
    return chain


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _at(session: Session, leaf_index) -> TraceEntry | None:
    return session.scalar(select(TraceEntry).where(TraceEntry.leaf_index == leaf_index)) if isinstance(leaf_index, int) else None


def problems(chain: Chain, order_id: str) -> list[str]:
    found = list(chain.damaged)
    order, invoice, settlement, payment = chain.order, chain.invoice, chain.settlement, chain.payment
    if order is None:
        return found + [f"order {order_id} is not in the log"]
    o = order.record
    if invoice is None:
        found.append("no invoice in the log names this order")
    else:
        i = invoice.record
        if i.get("kind") != "invoice" or i.get("order_id") != order_id or i.get("order_leaf") != order.leaf_index:
            found.append(f"invoice (leaf {invoice.leaf_index}) does not name this order's record (leaf {order.leaf_index})")
        for key in ("buyer_tax_id", "buyer_name", "total_minor", "currency", "lines"):
            if i.get(key) != o.get(key):
                found.append(f"invoice {key} {i.get(key)!r} ≠ order {key} {o.get(key)!r}")
    if settlement is None:
        return found + ["no payment in the log settles this order"]
    s = settlement.record
    if s.get("order_leaf") != order.leaf_index:
        found.append(f"the settlement (leaf {settlement.leaf_index}) names order leaf {s.get('order_leaf')}, not {order.leaf_index}")
    if invoice is not None and (s.get("invoice_leaf") != invoice.leaf_index or s.get("invoice_id") != invoice.record.get("object_id")):
        found.append(f"the settlement names invoice leaf {s.get('invoice_leaf')}, not the order's invoice (leaf {invoice.leaf_index})")
    if payment is None:
        return found + [f"the settlement's payment leaf {s.get('payment_leaf')} is not in the log"]
    p = payment.record
    if p.get("kind") != "payment" or p.get("object_id") != s.get("payment_id") or p.get("event") != "succeeded":
        found.append(f"leaf {payment.leaf_index} is not the success of payment {s.get('payment_id')}")
    if (p.get("amount_minor"), p.get("currency")) != (o.get("total_minor"), o.get("currency")):
        found.append(f"payment {p.get('amount_minor')} {p.get('currency')} ≠ order total {o.get('total_minor')} {o.get('currency')}")
    return found
