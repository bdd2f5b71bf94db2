"""Issuing receipts and reading them back with their proof.

The worker issues a receipt for every payment that succeeded and every refund that succeeded:
a row with the link's token and a `receipt` record in the Merkle log, in one transaction. The
record names what the payer paid (or got back), when, to whom and through which channel; the
payer's proof is that record's inclusion proof under a signed tree head."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from juhe.db.models import Merchant, new_id
from juhe.db.types import utcnow
from juhe.payments.models import Payment, PaymentEvent, Refund
from juhe.receipts.models import Receipt
from juhe.trace import heads, log, proofs
from juhe.trace.models import TraceCursor, TraceEntry
from juhe.trace.publisher import publish_head

ISSUE_BATCH = 1_000  # receipts per transaction
BATCHES_PER_ROUND = 10  # a worker round catches up with up to 10,000 successes, then yields
LOOKBACK_EVENTS = 5_000  # payment events that may commit behind the newest one read (as trace ingest)
CURSOR = "receipts.payment_events"
SUCCEEDED = "succeeded"


@dataclass(frozen=True, slots=True)
class Issued:
    receipt: Receipt
    payment: Payment
    refund: Refund | None
    merchant_name: str


def issue_due(db) -> int:
    """Receipts for the payments and refunds that succeeded since the last round (up to
    BATCHES_PER_ROUND batches of each); returns how many were issued."""
    issued = 0
    for _ in range(BATCHES_PER_ROUND):
        done = _payments_batch(db)
        issued += done
        if done < ISSUE_BATCH:
            break
    for _ in range(BATCHES_PER_ROUND):
        with db.session() as session, session.begin():
            refunds = session.scalars(select(Refund.id).where(Refund.status == SUCCEEDED, ~exists().where(
                Receipt.kind == "refund", Receipt.object_id == Refund.id)).limit(ISSUE_BATCH)).all()
            done = _issue(session, "refund", list(refunds))
        issued += done
        if done < ISSUE_BATCH:
            break
    return issued


def _payments_batch(db) -> int:
    """Successes from the cursor minus the look-back on: the look-back's are known already
    (unless one committed late), so the read reaches ISSUE_BATCH past the cursor."""
    with db.session() as session, session.begin():
        start = session.get(TraceCursor, CURSOR, with_for_update=True)
        floor = max(0, int(start.position) - LOOKBACK_EVENTS) if start else 0
        events = session.execute(select(PaymentEvent.id, PaymentEvent.payment_id).where(
            PaymentEvent.id > floor, PaymentEvent.to_status == SUCCEEDED).order_by(PaymentEvent.id)
            .limit(LOOKBACK_EVENTS + ISSUE_BATCH)).all()
        known = _known(session, "payment", [payment_id for _, payment_id in events])
        fresh = [(event_id, payment_id) for event_id, payment_id in events if payment_id not in known][:ISSUE_BATCH]
        issued = _issue(session, "payment", [payment_id for _, payment_id in fresh])
        if events:  # past every event read, unless the batch stopped short of them
            _advance(session, start, str(fresh[-1][0] if len(fresh) == ISSUE_BATCH else events[-1].id))
        return issued


def _known(session: Session, kind: str, object_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    known: set[uuid.UUID] = set()
    for at in range(0, len(object_ids), log.QUERY_CHUNK):
        known.update(session.scalars(select(Receipt.object_id).where(
            Receipt.kind == kind, Receipt.object_id.in_(object_ids[at:at + log.QUERY_CHUNK]))))
    return known


def _advance(session: Session, cursor: TraceCursor | None, position: str) -> None:
    if cursor is None:
        session.add(TraceCursor(source=CURSOR, position=position, updated_at=utcnow()))
    elif int(cursor.position) < int(position):
        cursor.position, cursor.updated_at = position, utcnow()


def _issue(session: Session, kind: str, object_ids: list[uuid.UUID]) -> int:
    known = _known(session, kind, object_ids)
    fresh = list(dict.fromkeys(i for i in object_ids if i not in known))
    if not fresh:
        return 0
    refunds = {r.id: r for r in session.scalars(select(Refund).where(Refund.id.in_(fresh)))} if kind == "refund" else {}
    payment_ids = [refunds[i].payment_id for i in fresh] if kind == "refund" else fresh
    payments = {p.id: p for p in session.scalars(select(Payment).where(Payment.id.in_(payment_ids)))}
    names = dict(session.execute(select(Merchant.id, Merchant.name).where(
        Merchant.id.in_({p.merchant_id for p in payments.values()}))).all())
    receipts = []
    for object_id in fresh:
        refund = refunds.get(object_id)
        payment = payments[refund.payment_id if refund else object_id]
        source = refund or payment
        receipts.append(Issued(Receipt(id=new_id(), merchant_id=payment.merchant_id, kind=kind, object_id=object_id,
                                       payment_id=payment.id, token=secrets.token_urlsafe(32), amount_minor=source.amount_minor,
                                       currency=source.currency, leaf_index=-1, issued_at=utcnow()),
                               payment, refund, names[payment.merchant_id]))
    log.append(session, [record_event(i) for i in receipts])
    leaves = dict(session.execute(select(TraceEntry.source_key, TraceEntry.leaf_index).where(
        TraceEntry.source == "receipts", TraceEntry.source_key.in_([str(i.receipt.id) for i in receipts]))).all())
    for item in receipts:
        item.receipt.leaf_index = leaves[str(item.receipt.id)]
        session.add(item.receipt)
    return len(receipts)


def record_facts(item: Issued) -> dict:
    """What the receipt says, as the log records it (the link's token is not in it)."""
    payment, refund = item.payment, item.refund
    return {"receipt_kind": item.receipt.kind, "payment_id": str(payment.id), "refund_id": str(refund.id) if refund else None,
            "merchant_name": item.merchant_name, "subject": payment.subject, "channel": payment.channel,
            "channel_order_no": payment.channel_order_no, "amount_minor": item.receipt.amount_minor,
            "currency": item.receipt.currency, "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
            "refunded_at": refund.updated_at.isoformat() if refund else None,
            "ledger_txn_id": str((refund or payment).ledger_txn_id)}


def record_event(item: Issued) -> log.Event:
    return log.Event(kind="receipt", object_id=str(item.receipt.id), event=item.receipt.kind, at=item.receipt.issued_at,
                     merchant_id=item.receipt.merchant_id, facts=record_facts(item),
                     source="receipts", source_key=str(item.receipt.id))


# -- reading -----------------------------------------------------------------------------------

def by_token(session: Session, token: str) -> Receipt | None:
    return session.scalar(select(Receipt).where(Receipt.token == token)) if 20 <= len(token) <= 64 else None


def record(session: Session, receipt: Receipt) -> dict:
    """The receipt's record as the log holds it (what the page and the PDF show)."""
    entry = log.entry(session, receipt.leaf_index)
    assert entry is not None and entry.source_key == str(receipt.id), "a receipt's leaf is its own record"
    return json.loads(entry.data)


def proof(db, key, receipt: Receipt) -> dict:
    """The inclusion proof document of the receipt's record under a signed head that covers it
    (the latest, or one signed now), as `juhe trace verify` checks it."""
    with db.reader() as session:
        head = heads.latest(session)
    if head is None or head.tree_size <= receipt.leaf_index:
        head = publish_head(db, key)
    with db.reader() as session:
        return proofs.inclusion_document(session, receipt.leaf_index, head)


def of_merchant(session: Session, merchant_id: uuid.UUID | None, *, limit: int = 50, payment_id: uuid.UUID | None = None) -> list[Receipt]:
    query = select(Receipt).order_by(Receipt.id.desc()).limit(limit)
    if merchant_id is not None:
        query = query.where(Receipt.merchant_id == merchant_id)
    if payment_id is not None:
        query = query.where(Receipt.payment_id == payment_id)
    return list(session.scalars(query))
