"""Ingestion: the worker reads new rows of the tables that record money and its states (payment
status changes, ledger transactions, settlement batches, reserve-fund proofs) and appends them
to the log in batches. The payment path itself writes nothing more and commits no more often.

Each source is read from a cursor minus a look-back, because on PostgreSQL a row can commit
after a later one (ids and timestamps are taken before commit): what the look-back sees again
is recognised by its `source_key` and recorded once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from juhe.db.models import Account, LedgerEntry, LedgerTransaction
from juhe.db.types import utcnow
from juhe.payments.models import Payment, PaymentEvent
from juhe.settlement.models import ReserveProofRow, SettlementBatch
from juhe.trace import log
from juhe.trace.models import TraceCursor

INGEST_BATCH = 10_000  # source rows per source per transaction
LOOKBACK_ROWS = 5_000  # rows that may still commit behind the newest one read (well under INGEST_BATCH)


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    column: InstrumentedAttribute  # the order rows are read in (indexed where the table is large)
    decode: Callable[[str], object]  # a stored position back to a value of `column`
    read: Callable[[Session, object, int], list[tuple[str, log.Event]]]  # rows ≥ floor: (position, event), oldest first


def _floor(session: Session, source: Source, position: str | None):
    """The value LOOKBACK_ROWS rows before the cursor (None: read from the start)."""
    if position is None:
        return None
    return session.scalar(select(source.column).where(source.column <= source.decode(position))
                          .order_by(source.column.desc()).offset(LOOKBACK_ROWS).limit(1))


def _from(query, column, floor):
    return (query if floor is None else query.where(column >= floor)).order_by(column)


def _payment_events(session: Session, floor, limit: int) -> list[tuple[str, log.Event]]:
    rows = session.execute(_from(select(PaymentEvent, Payment.amount_minor, Payment.currency)
                                 .join(Payment, Payment.id == PaymentEvent.payment_id), PaymentEvent.id, floor).limit(limit)).all()
    return [(str(e.id), log.Event(
        kind="payment", object_id=str(e.payment_id), event=e.to_status, at=e.at, merchant_id=e.merchant_id,
        facts={"from_status": e.from_status, "cause": e.cause, "amount_minor": amount, "currency": currency},
        source="payment_events", source_key=str(e.id))) for e, amount, currency in rows]


def _ledger_transactions(session: Session, floor, limit: int) -> list[tuple[str, log.Event]]:
    txns = session.scalars(_from(select(LedgerTransaction), LedgerTransaction.id, floor).limit(limit)).all()
    entries: dict[uuid.UUID, list] = {}
    ids = [t.id for t in txns]
    for start in range(0, len(ids), log.QUERY_CHUNK):
        for txn_id, code, currency, amount in session.execute(
                select(LedgerEntry.transaction_id, Account.code, LedgerEntry.currency, LedgerEntry.amount_minor)
                .join(Account, Account.id == LedgerEntry.account_id)
                .where(LedgerEntry.transaction_id.in_(ids[start:start + log.QUERY_CHUNK])).order_by(LedgerEntry.id)):
            entries.setdefault(txn_id, []).append([code, currency, amount])
    # `status` is left out: a hold's changes later, and its capture or void is a transaction of its own.
    return [(str(t.id), log.Event(
        kind="ledger_transaction", object_id=str(t.id), event=t.kind, at=t.created_at, merchant_id=t.merchant_id,
        facts={"idempotency_key": t.idempotency_key, "hold_id": t.hold_id, "reverses_id": t.reverses_id,
               "entries": entries.get(t.id, [])},
        source="ledger_transactions", source_key=str(t.id))) for t in txns]


def _settlement_batches(session: Session, floor, limit: int) -> list[tuple[str, log.Event]]:
    rows = session.scalars(_from(select(SettlementBatch), SettlementBatch.updated_at, floor).limit(limit)).all()
    # Batches change status (held → submitted → paid): each state seen is a leaf of its own.
    return [(b.updated_at.isoformat(), log.Event(
        kind="settlement_batch", object_id=str(b.id), event=b.status, at=b.updated_at, merchant_id=b.merchant_id,
        facts={"settlement_date": b.settlement_date, "group_key": b.group_key, "currency": b.currency,
               "gross_minor": b.gross_minor, "fee_minor": b.fee_minor, "net_minor": b.net_minor,
               "item_count": b.item_count, "end_to_end_id": b.end_to_end_id, "bank_ref": b.bank_ref},
        source="settlement_batches", source_key=f"{b.id}@{b.updated_at.isoformat()}")) for b in rows]


def _reserve_proofs(session: Session, floor, limit: int) -> list[tuple[str, log.Event]]:
    rows = session.scalars(_from(select(ReserveProofRow), ReserveProofRow.updated_at, floor).limit(limit)).all()
    return [(p.updated_at.isoformat(), log.Event(
        kind="reserve_proof", object_id=str(p.id), event="ok" if p.ok else "mismatch", at=p.updated_at,
        merchant_id=p.merchant_id,
        facts={"day": p.day, "currency": p.currency, "reserve_account": p.reserve_account, "statement_id": p.statement_id,
               "liabilities_minor": p.liabilities_minor, "in_transit_minor": p.in_transit_minor,
               "ledger_reserve_minor": p.ledger_reserve_minor, "bank_balance_minor": p.bank_balance_minor,
               "difference_minor": p.difference_minor},
        source="reserve_proofs", source_key=f"{p.id}@{p.updated_at.isoformat()}")) for p in rows]


SOURCES = (
    Source("payment_events", PaymentEvent.id, int, _payment_events),
    Source("ledger_transactions", LedgerTransaction.id, uuid.UUID, _ledger_transactions),  # uuid7: time order
    # Low-volume tables without an index on updated_at; every state a row is seen in is a leaf.
    Source("settlement_batches", SettlementBatch.updated_at, datetime.fromisoformat, _settlement_batches),
    Source("reserve_proofs", ReserveProofRow.updated_at, datetime.fromisoformat, _reserve_proofs),
)


def ingest_once(session: Session, source: Source, limit: int = INGEST_BATCH) -> tuple[int, bool]:
    """One batch of one source in the caller's transaction: (leaves appended, more to read)."""
    assert limit > LOOKBACK_ROWS + 1  # a full read then always reaches past the cursor: progress
    cursor = session.get(TraceCursor, source.name)
    read = source.read(session, _floor(session, source, cursor.position if cursor else None), limit)
    if not read:
        return 0, False
    appended = log.append(session, [event for _position, event in read])
    newest = read[-1][0]
    if cursor is None:
        session.add(TraceCursor(source=source.name, position=newest, updated_at=utcnow()))
    else:
        cursor.position, cursor.updated_at = newest, utcnow()
    return appended, len(read) == limit


def ingest(db, limit: int = INGEST_BATCH) -> int:
    """Everything new in every source, a batch per transaction; returns the leaves appended."""
    total = 0
    for source in SOURCES:
        more = True
        while more:
            with db.session() as session, session.begin():
                appended, more = ingest_once(session, source, limit)
            total += appended
    return total
