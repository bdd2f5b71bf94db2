"""Writing and proving the audit trail.

Records are chained: each one's hash covers the previous hash and all of its own fields, and
the chain head (one row, locked by every writer) holds the newest place and hash. Editing a
record breaks its hash, deleting one leaves a gap, deleting the newest ones disagrees with the
head; `verify` walks the chain and reports every such problem.

The API records through `AuditBuffer`: requests only queue their record, and a flush writes a
batch in one transaction, so auditing adds no commit to any request (the payment path stays as
it is). What a crash takes with it is at most the last flush interval's records."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from juhe.audit.models import AuditChainHead, AuditRecord
from juhe.db.types import utcnow

HEAD_ID = 1
GENESIS = "0" * 64
FLUSH_BATCH_MAX = 1_000  # records per transaction
VERIFY_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Record:
    actor: str
    action: str
    outcome: str
    origin: str
    merchant_id: uuid.UUID | None = None
    object_type: str | None = None
    object_id: str | None = None
    status_code: int | None = None
    detail: dict | None = None
    at: datetime = field(default_factory=utcnow)


def chain_hash(prev_hash: str, record_id: int, record: Record) -> str:
    fields = {**asdict(record), "id": record_id, "at": record.at.isoformat(),
              "merchant_id": str(record.merchant_id) if record.merchant_id else None}
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(prev_hash.encode() + body.encode()).hexdigest()


def append(session: Session, records: list[Record]) -> int:
    """Chains the records on, in the caller's transaction; returns the newest place."""
    assert 0 < len(records) <= FLUSH_BATCH_MAX, len(records)
    head = session.execute(select(AuditChainHead.last_id, AuditChainHead.last_hash)
                           .where(AuditChainHead.id == HEAD_ID).with_for_update()).one()
    last_id, last_hash = head.last_id, head.last_hash
    rows = []
    for record in records:
        last_id, prev = last_id + 1, last_hash
        last_hash = chain_hash(prev, last_id, record)
        rows.append({**asdict(record), "id": last_id, "prev_hash": prev, "hash": last_hash})
    session.execute(insert(AuditRecord.__table__), rows)
    moved = session.execute(update(AuditChainHead.__table__)
                            .where(AuditChainHead.id == HEAD_ID, AuditChainHead.last_id == head.last_id)
                            .values(last_id=last_id, last_hash=last_hash, updated_at=utcnow()))
    assert moved.rowcount == 1, "the audit chain head moved under its lock"
    return last_id


def record_now(db, record: Record) -> None:
    """One record in its own transaction (the CLI: rare changes, nothing to batch with)."""
    with db.session() as session, session.begin():
        append(session, [record])


def _as_record(row: AuditRecord) -> Record:
    return Record(actor=row.actor, action=row.action, outcome=row.outcome, origin=row.origin, merchant_id=row.merchant_id,
                  object_type=row.object_type, object_id=row.object_id, status_code=row.status_code, detail=row.detail,
                  at=row.at)


@dataclass(slots=True)
class ChainCheck:
    records: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_id: int | None = None

    def bad(self, record_id: int, problem: str) -> None:
        self.problems.append(problem)
        if self.first_bad_id is None:
            self.first_bad_id = record_id


def verify(session: Session) -> ChainCheck:
    check = ChainCheck()
    expected_id, prev = 1, GENESIS
    while True:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.id >= expected_id)
                               .order_by(AuditRecord.id).limit(VERIFY_CHUNK)).all()
        for row in rows:
            if row.id != expected_id:
                check.bad(expected_id, f"records {expected_id}–{row.id - 1} are missing (deleted)")
            elif row.prev_hash != prev:
                check.bad(row.id, f"record {row.id} does not follow record {row.id - 1}'s hash")
            if chain_hash(row.prev_hash, row.id, _as_record(row)) != row.hash:
                check.bad(row.id, f"record {row.id} was edited: its fields do not hash to its stored hash")
            expected_id, prev = row.id + 1, row.hash
            check.records += 1
        if len(rows) < VERIFY_CHUNK:
            break
    head = session.get(AuditChainHead, HEAD_ID)
    if head.last_id != expected_id - 1 or head.last_hash != prev:
        check.bad(expected_id, f"the chain ends at record {expected_id - 1}, its head says {head.last_id} (newest deleted?)")
    return check


class AuditBuffer:
    """Records queued by requests, written in batches by `flush` (thread-safe)."""

    def __init__(self) -> None:
        self.pending: list[Record] = []
        self.lock = threading.Lock()
        self.flushing = threading.Lock()

    def add(self, record: Record) -> bool:
        """Queues the record; True when the buffer is full enough that the caller should flush."""
        with self.lock:
            self.pending.append(record)
            return len(self.pending) >= FLUSH_BATCH_MAX

    def flush(self, db) -> int:
        """Writes everything queued; returns how many. One flush at a time, in queue order."""
        written = 0
        with self.flushing:
            while True:
                with self.lock:
                    batch, self.pending = self.pending[:FLUSH_BATCH_MAX], self.pending[FLUSH_BATCH_MAX:]
                if not batch:
                    return written
                try:
                    with db.session() as session, session.begin():
                        append(session, batch)
                except BaseException:
                    with self.lock:  # kept for the next flush, still in order
                        self.pending = batch + self.pending
                    raise
                written += len(batch)


def cli_record(action: str, outcome: str, *, merchant_id: uuid.UUID | None = None, object_type: str | None = None,
               object_id: str | None = None, detail: dict | None = None) -> Record:
    """A record of a `juhe` command: the operating-system user on this host is the actor."""
    import getpass
    import socket

    return Record(actor=f"cli:{getpass.getuser()}", action=action, outcome=outcome, origin=f"cli:{socket.gethostname()}",
                  merchant_id=merchant_id, object_type=object_type, object_id=object_id, detail=detail)
