"""Trace tables: the log's entries (each a leaf once sequenced), the perfect subtrees the tree is
made of, the tree's right edge, the signed tree heads, and where ingestion has read up to.

One log serves every merchant, as a Certificate Transparency log serves every site: entries
carry `merchant_id`; nodes, the edge and the heads are the platform's and hold only hashes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base
from juhe.db.types import BigIntPK, utcnow


class TraceEntry(Base):
    """One event (a payment status, a ledger transaction, a settlement batch, a reserve proof,
    later orders and invoices) as canonical JSON. `source`/`source_key` name the row it was read
    from, so reading it twice records it once; `leaf_index` is its place in the tree."""

    __tablename__ = "trace_entries"
    __table_args__ = (
        UniqueConstraint("source", "source_key"),
        Index("ix_trace_entries_kind_object_id", "kind", "object_id"),
        Index("ix_trace_entries_merchant_id_id", "merchant_id", "id"),
        Index("ix_trace_entries_leaf_index", "leaf_index", unique=True),
    )
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    merchant_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(24))  # payment, ledger_transaction, settlement_batch, reserve_proof, …
    object_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(32))
    source_key: Mapped[str | None] = mapped_column(String(96))
    data: Mapped[str] = mapped_column(Text)  # canonical JSON: the leaf's bytes are its UTF-8
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_index: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class TraceNode(Base):
    """A perfect subtree: leaves [index·2^level, (index+1)·2^level), level ≥ 1 (the leaves' own
    hashes are the entries' `leaf_hash`). Written once when completed, never updated."""

    __tablename__ = "trace_nodes"
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TraceFrontier(Base):
    """The tree's size and right edge (one row): every appender locks it, so there is one sequence."""

    __tablename__ = "trace_frontier"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    edge: Mapped[list] = mapped_column()  # [[level, hex hash], ...], largest subtree first
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TraceCursor(Base):
    """How far ingestion has read one source table (a timestamp or an id, as text)."""

    __tablename__ = "trace_cursors"
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TreeHead(Base):
    """A signed tree head: the root of the first `tree_size` leaves in a signed note (C2SP
    tlog-checkpoint), signed with Ed25519 by the key `key_name`/`key_hash`."""

    __tablename__ = "trace_tree_heads"
    __table_args__ = (Index("ix_trace_tree_heads_tree_size", "tree_size"),)
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(100))
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    key_name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(4))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
