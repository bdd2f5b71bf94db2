"""The money records behind the log, read again: every leaf taken from a payment event or a
ledger transaction is rendered anew from that row as it is now. A row edited or deleted after
it was logged no longer gives its leaf's record; that is reported with the leaf's index."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.models import LedgerTransaction
from juhe.payments.models import PaymentEvent
from juhe.trace import ingest
from juhe.trace.models import TraceEntry

RECHECK_CHUNK = 2_000  # leaves per round trip


def _current(session: Session, source: str, keys: list[str]) -> dict[str, str]:
    """source_key → the record the row gives today (rows gone are absent)."""
    if source == "payment_events":
        rows = session.execute(ingest.PAYMENT_EVENT_ROWS.where(PaymentEvent.id.in_([int(k) for k in keys]))).all()
        events = [ingest.payment_event(row) for row in rows]
    else:
        txns = session.scalars(select(LedgerTransaction).where(LedgerTransaction.id.in_([uuid.UUID(k) for k in keys]))).all()
        events = ingest.ledger_events(session, list(txns))
    return {event.source_key: event.data() for event in events}


def source_problems(session: Session) -> list[tuple[int, str]]:
    """(leaf index, problem) for every logged money record whose row no longer says the same."""
    problems: list[tuple[int, str]] = []
    last = -1
    while True:
        rows = session.execute(select(TraceEntry.leaf_index, TraceEntry.source, TraceEntry.source_key, TraceEntry.data)
                               .where(TraceEntry.leaf_index > last,
                                      TraceEntry.source.in_(("payment_events", "ledger_transactions")))
                               .order_by(TraceEntry.leaf_index).limit(RECHECK_CHUNK)).all()
        if not rows:
            return problems
        for source in ("payment_events", "ledger_transactions"):
            mine = [row for row in rows if row.source == source]
            current = _current(session, source, [row.source_key for row in mine]) if mine else {}
            for index, _source, key, data in mine:
                now = current.get(key)
                if now is None:
                    problems.append((index, f"leaf {index}: {source} row {key} is gone (deleted after it was logged)"))
                elif now != data:
                    problems.append((index, f"leaf {index}: {source} row {key} no longer says what was logged (edited)"))
        last = rows[-1].leaf_index
