"""The log in the database: appending events in batches, and reading roots and proofs from the
stored perfect subtrees.

Every append locks the one frontier row (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite the
engine's write transaction), so there is one sequence of leaf indexes however many appenders
run. An append is O(log n) per leaf (amortised two node rows) and never reads old leaves."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, text, tuple_, update
from sqlalchemy.orm import Session

from juhe.db.types import utcnow
from juhe.trace import merkle
from juhe.trace.models import TraceEntry, TraceFrontier, TraceNode

APPEND_BATCH_MAX = 10_000  # events per append (one database transaction)
QUERY_CHUNK = 500  # keys per IN (...)
FRONTIER_ID = 1
# One unique-index probe per key, whatever the statistics say: on a fast-growing table they lag,
# and PostgreSQL then scans every entry of the source for `source_key IN (…)`.
RECORDED_PG = text("SELECT k.key FROM unnest(CAST(:keys AS VARCHAR[])) AS k(key) CROSS JOIN LATERAL "
                   "(SELECT 1 FROM trace_entries e WHERE e.source = :source AND e.source_key = k.key LIMIT 1) AS hit")


class TraceError(ValueError):
    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Event:
    """What one leaf says. `source`/`source_key` name the row it comes from (recorded once)."""

    kind: str
    object_id: str
    event: str
    at: datetime
    facts: dict
    merchant_id: uuid.UUID | None = None
    source: str | None = None
    source_key: str | None = None

    def data(self) -> str:
        return canonical({"kind": self.kind, "object_id": self.object_id, "event": self.event,
                          "merchant_id": self.merchant_id, "at": self.at.isoformat(), **self.facts})


def canonical(data: dict) -> str:
    """One spelling for one content: sorted keys, no spaces, UTF-8 (Chinese kept as is)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# -- appending ---------------------------------------------------------------------------------

def load_frontier(session: Session, *, lock: bool = False) -> merkle.Frontier:
    query = select(TraceFrontier.tree_size, TraceFrontier.edge).where(TraceFrontier.id == FRONTIER_ID)
    row = session.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise TraceError("log_damaged", "the trace frontier row is missing (run the migrations)", 500)
    frontier = merkle.Frontier(row.tree_size, tuple((level, bytes.fromhex(h)) for level, h in row.edge))
    assert len(frontier.edge) == frontier.size.bit_count()
    return frontier


def append(session: Session, events: list[Event]) -> int:
    """Appends the events not recorded yet, in order, in the caller's transaction; returns how
    many became leaves."""
    assert len(events) <= APPEND_BATCH_MAX, len(events)
    frontier = load_frontier(session, lock=True)  # from here on, no other appender runs
    fresh = _not_recorded(session, events)
    if not fresh:
        return 0
    rows = [_row(event, frontier.size + i) for i, event in enumerate(fresh)]
    grown, completed = merkle.append(frontier, [row["leaf_hash"] for row in rows])
    _insert(session, TraceEntry.__table__, rows)
    # Level 0 is the entries' own leaf_hash: only the inner nodes are stored apart.
    _insert(session, TraceNode.__table__, [{"level": lv, "index": ix, "hash": h} for lv, ix, h in completed if lv > 0])
    stored = session.execute(update(TraceFrontier.__table__)
                             .where(TraceFrontier.id == FRONTIER_ID, TraceFrontier.tree_size == frontier.size)
                             .values(tree_size=grown.size, edge=[[lv, h.hex()] for lv, h in grown.edge], updated_at=utcnow()))
    assert stored.rowcount == 1, "the frontier moved under its lock"
    return len(fresh)


def _insert(session: Session, table, rows: list[dict]) -> None:
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    # COPY: psycopg's executemany sends one INSERT per row, several times slower.
    columns = list(rows[0])
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(f'{c!r}'.replace(chr(39), chr(34)) for c in columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])


def _row(event: Event, leaf_index: int) -> dict:
    data = event.data()
    return {"merchant_id": event.merchant_id, "kind": event.kind, "object_id": event.object_id, "event": event.event,
            "source": event.source, "source_key": event.source_key, "data": data,
            "leaf_hash": merkle.leaf_hash(data.encode()), "leaf_index": leaf_index, "recorded_at": utcnow()}


def recorded(session: Session, source: str, keys: list[str]) -> set[str]:
    """Which of one source's keys are in the log already."""
    seen: set[str] = set()
    postgres = session.connection().dialect.name == "postgresql"
    for start in range(0, len(keys), QUERY_CHUNK):
        chunk = keys[start:start + QUERY_CHUNK]
        query = RECORDED_PG if postgres else select(TraceEntry.source_key).where(
            TraceEntry.source == source, TraceEntry.source_key.in_(chunk))
        seen.update(session.scalars(query, {"source": source, "keys": chunk} if postgres else None))
    return seen


def _not_recorded(session: Session, events: list[Event]) -> list[Event]:
    by_source: dict[str, list[str]] = {}
    for e in events:
        if e.source is not None:
            by_source.setdefault(e.source, []).append(e.source_key)
    seen = {(source, key) for source, keys in by_source.items() for key in recorded(session, source, keys)}
    fresh = []
    for event in events:
        key = (event.source, event.source_key)
        if event.source is None or key not in seen:
            fresh.append(event)
            seen.add(key)
    return fresh


# -- reading the tree --------------------------------------------------------------------------

def nodes(session: Session, keys: set[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
    found: dict[merkle.NodeKey, bytes] = {}
    leaves = sorted(index for level, index in keys if level == 0)
    inner = sorted(key for key in keys if key[0] > 0)
    for start in range(0, len(leaves), QUERY_CHUNK):
        rows = session.execute(select(TraceEntry.leaf_index, TraceEntry.leaf_hash)
                               .where(TraceEntry.leaf_index.in_(leaves[start:start + QUERY_CHUNK]))).all()
        found.update({(0, index): bytes(h) for index, h in rows})
    for start in range(0, len(inner), QUERY_CHUNK):
        rows = session.execute(select(TraceNode.level, TraceNode.index, TraceNode.hash)
                               .where(tuple_(TraceNode.level, TraceNode.index).in_(inner[start:start + QUERY_CHUNK]))).all()
        found.update({(level, index): bytes(h) for level, index, h in rows})
    missing = keys - found.keys()
    if missing:
        raise TraceError("log_damaged", f"{len(missing)} tree node(s) are missing, e.g. {sorted(missing)[0]}", 500)
    return found


def tree_size(session: Session) -> int:
    return load_frontier(session).size


def root_at(session: Session, size: int) -> bytes:
    frontier = load_frontier(session)
    _check_size(frontier.size, size)
    if size == frontier.size:
        return frontier.root()
    if size == 0:
        return merkle.EMPTY_ROOT
    return merkle.range_hash(0, size, nodes(session, set(merkle.range_nodes(0, size))))


def inclusion_proof(session: Session, leaf_index: int, size: int) -> list[bytes]:
    _check_size(tree_size(session), size)
    try:
        ranges = merkle.inclusion_ranges(leaf_index, size)
    except merkle.ProofError as e:
        raise TraceError("leaf_not_in_tree", str(e)) from None
    return merkle.hashes_of(ranges, nodes(session, merkle.nodes_for(ranges)))


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    _check_size(tree_size(session), second)
    try:
        ranges = merkle.consistency_ranges(first, second)
    except merkle.ProofError as e:
        raise TraceError("invalid_tree_sizes", str(e)) from None
    return merkle.hashes_of(ranges, nodes(session, merkle.nodes_for(ranges)))


def _check_size(size_now: int, asked: int) -> None:
    if not 0 <= asked <= size_now:
        raise TraceError("tree_size_out_of_range", f"the tree has {size_now} leaves, not {asked}")


def entry(session: Session, leaf_index: int) -> TraceEntry | None:
    return session.scalar(select(TraceEntry).where(TraceEntry.leaf_index == leaf_index))
