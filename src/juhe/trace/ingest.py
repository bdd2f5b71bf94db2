"""Ingestion: the worker reads new rows of the tables that record money and its states (payment
status changes, ledger transactions, settlement batches, reserve-fund proofs) and appends them
to the log in batches. The payment path itself writes nothing more and commits no more often.

Each source is read from a cursor minus a look-back, because on PostgreSQL a row can commit
after a later one (ids and timestamps are taken before commit): what the look-back sees again
is recognised by its `source_key` and recorded once. Reading happens in a read-only session;
only the append and the cursor take the write transaction (on SQLite: the one writer), so
payments never wait behind the reading."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

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
    read: Callable[[Session, object, int], Read]  # rows ≥ floor, oldest first


@dataclass(frozen=True, slots=True)
class Read:
    newest: str | None  # the position of the newest row read
    rows: int  # rows read, recorded before or not
    events: list[log.Event]  # the rows not recorded yet


def _floor(session: Session, source: Source, position: str | None):
    """The value LOOKBACK_ROWS rows before the cursor (None: read from the start)."""
    if position is None:
        return None
    return session.scalar(select(source.column).where(source.column <= source.decode(position))
                          .order_by(source.column.desc()).offset(LOOKBACK_ROWS).limit(1))


def _from(query, column, floor):
    return (query if floor is None else query.where(column >= floor)).order_by(column)


def _unrecorded(session: Session, source: str, rows: list, key: Callable) -> list:
    known = log.recorded(session, source, [key(row) for row in rows])
    return [row for row in rows if key(row) not in known]


PAYMENT_EVENT_ROWS = select(PaymentEvent, Payment.amount_minor, Payment.currency).join(Payment, Payment.id == PaymentEvent.payment_id)


def payment_event(row) -> log.Event:
    e, amount, currency = row
    return log.Event(kind="payment", object_id=str(e.payment_id), event=e.to_status, at=e.at, merchant_id=e.merchant_id,
                     facts={"from_status": e.from_status, "cause": e.cause, "amount_minor": amount, "currency": currency},
                     source="payment_events", source_key=str(e.id))


def _payment_events(session: Session, floor, limit: int) -> Read:
    rows = session.execute(_from(PAYMENT_EVENT_ROWS, PaymentEvent.id, floor).limit(limit)).all()
    fresh = _unrecorded(session, "payment_events", rows, lambda row: str(row[0].id))
    return Read(str(rows[-1][0].id) if rows else None, len(rows), [payment_event(row) for row in fresh])


def ledger_events(session: Session, txns: list[LedgerTransaction]) -> list[log.Event]:
    entries: dict[uuid.UUID, list] = {}
    ids = [t.id for t in txns]
    for start in range(0, len(ids), log.QUERY_CHUNK):
        for txn_id, code, currency, amount in session.execute(
                select(LedgerEntry.transaction_id, Account.code, LedgerEntry.currency, LedgerEntry.amount_minor)
                .join(Account, Account.id == LedgerEntry.account_id)
                .where(LedgerEntry.transaction_id.in_(ids[start:start + log.QUERY_CHUNK])).order_by(LedgerEntry.id)):
            entries.setdefault(txn_id, []).append([code, currency, amount])
    # `status` is left out: a hold's changes later, and its capture or void is a transaction of its own.
    return [log.Event(kind="ledger_transaction", object_id=str(t.id), event=t.kind, at=t.created_at, merchant_id=t.merchant_id,
                      facts={"idempotency_key": t.idempotency_key, "hold_id": t.hold_id, "reverses_id": t.reverses_id,
                             "entries": entries.get(t.id, [])},
                      source="ledger_transactions", source_key=str(t.id)) for t in txns]


def _ledger_transactions(session: Session, floor, limit: int) -> Read:
    read = session.scalars(_from(select(LedgerTransaction), LedgerTransaction.id, floor).limit(limit)).all()
    txns = _unrecorded(session, "ledger_transactions", read, lambda t: str(t.id))  # entries only of the new ones
    return Read(str(read[-1].id) if read else None, len(read), ledger_events(session, txns))


def _state_key(row) -> str:
    return f"{row.id}@{row.updated_at.isoformat()}"


def _changing(session: Session, source: str, rows: list, event) -> Read:
    """A table whose rows change: each state seen (id @ updated_at) is a leaf of its own."""
    fresh = _unrecorded(session, source, rows, _state_key)
    return Read(rows[-1].updated_at.isoformat() if rows else None, len(rows), [event(row) for row in fresh])


def _settlement_batches(session: Session, floor, limit: int) -> Read:
    rows = session.scalars(_from(select(SettlementBatch), SettlementBatch.updated_at, floor).limit(limit)).all()
    return _changing(session, "settlement_batches", rows, lambda b: log.Event(
        kind="settlement_batch", object_id=str(b.id), event=b.status, at=b.updated_at, merchant_id=b.merchant_id,
        facts={"settlement_date": b.settlement_date, "group_key": b.group_key, "currency": b.currency,
               "gross_minor": b.gross_minor, "fee_minor": b.fee_minor, "net_minor": b.net_minor,
               "item_count": b.item_count, "end_to_end_id": b.end_to_end_id, "bank_ref": b.bank_ref},
        source="settlement_batches", source_key=_state_key(b)))


def _reserve_proofs(session: Session, floor, limit: int) -> Read:
    rows = session.scalars(_from(select(ReserveProofRow), ReserveProofRow.updated_at, floor).limit(limit)).all()
    return _changing(session, "reserve_proofs", rows, lambda p: log.Event(
        kind="reserve_proof", object_id=str(p.id), event="ok" if p.ok else "mismatch", at=p.updated_at,
        merchant_id=p.merchant_id,
        facts={"day": p.day, "currency": p.currency, "reserve_account": p.reserve_account, "statement_id": p.statement_id,
               "liabilities_minor": p.liabilities_minor, "in_transit_minor": p.in_transit_minor,
               "ledger_reserve_minor": p.ledger_reserve_minor, "bank_balance_minor": p.bank_balance_minor,
               "difference_minor": p.difference_minor},
        source="reserve_proofs", source_key=_state_key(p)))


SOURCES = (
    Source("payment_events", PaymentEvent.id, int, _payment_events),
    Source("ledger_transactions", LedgerTransaction.id, uuid.UUID, _ledger_transactions),  # uuid7: time order
    # Low-volume tables without an index on updated_at; every state a row is seen in is a leaf.
    Source("settlement_batches", SettlementBatch.updated_at, datetime.fromisoformat, _settlement_batches),
    Source("reserve_proofs", ReserveProofRow.updated_at, datetime.fromisoformat, _reserve_proofs),
)


def ingest_once(db, source: Source, limit: int = INGEST_BATCH) -> tuple[int, bool]:
    """One batch of one source: (leaves appended, more to read)."""
    assert limit > LOOKBACK_ROWS + 1  # a full read then always reaches past the cursor: progress
    with db.reader() as session:
        cursor = session.get(TraceCursor, source.name)
        start = cursor.position if cursor else None
        read = source.read(session, _floor(session, source, start), limit)
    if read.newest is None:
        return 0, False
    with db.session() as session, session.begin():
        appended = log.append(session, read.events) if read.events else 0  # known again under the lock: skipped
        _advance(session, source.name, start, read.newest)
    return appended, read.rows == limit


def _advance(session: Session, name: str, start: str | None, newest: str) -> None:
    cursor = session.get(TraceCursor, name, with_for_update=True)
    if cursor is None:
        session.add(TraceCursor(source=name, position=newest, updated_at=utcnow()))
    elif cursor.position == start:  # another ingester that moved it on read at least as far
        cursor.position, cursor.updated_at = newest, utcnow()


def ingest(db, limit: int = INGEST_BATCH) -> int:
    """Everything new in every source, a batch per transaction; returns the leaves appended."""
    total = 0
    for source in SOURCES:
        more = True
        while more:
            appended, more = ingest_once(db, source, limit)
            total += appended
    return total
