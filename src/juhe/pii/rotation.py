"""Master key rotation without downtime. `rotate` adds a version and makes it primary in the
keyring file first (every process seals under it from its next write on, and still opens every
older version), then re-wraps the data keys of the values still under older versions, one batch
per transaction. Only the wrapped DEK changes; each update is conditional on the blob being the
one read, so a value rewritten meanwhile by the application is left as it was written."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from juhe.db.models import load_all_models
from juhe.pii import envelope, keyring
from juhe.pii.keyring import Keyring
from juhe.pii.orm import REGISTRY

BATCH_MAX = 5_000


@dataclass
class RewrapReport:
    primary: int
    rewrapped: int = 0
    changed_meanwhile: int = 0  # written by the application during the pass: already under the primary
    batches: int = 0
    per_column: Counter = field(default_factory=Counter)


def rotate(path: Path, session_factory, batch_size: int) -> RewrapReport:
    _check_batch(batch_size)
    ring = keyring.load_or_create(path).with_new_version()
    keyring.save(path, ring)
    return rewrap_all(ring, session_factory, batch_size)


def rewrap_all(ring: Keyring, session_factory, batch_size: int) -> RewrapReport:
    _check_batch(batch_size)
    load_all_models()  # every protected table registers itself when its models load
    report = RewrapReport(ring.primary)
    for model in REGISTRY:
        for column in REGISTRY[model].columns:
            _rewrap_column(ring, model, column, session_factory, batch_size, report)
    return report


def versions_in_use(session: Session) -> Counter:
    """How many stored values each master version wraps, per column: what a retirement must wait for."""
    load_all_models()
    found: Counter = Counter()
    for model, spec in REGISTRY.items():
        table = model.__table__
        for column in spec.columns:
            for (blob,) in session.execute(select(table.c[column]).where(table.c[column].is_not(None))):
                found[(f"{spec.table}.{column}", envelope.read_header(blob).version)] += 1
    return found


def _check_batch(batch_size: int) -> None:
    if not 0 < batch_size <= BATCH_MAX:
        raise ValueError(f"batch size must be 1 to {BATCH_MAX}")


def _rewrap_column(ring: Keyring, model, column: str, session_factory, batch_size: int, report: RewrapReport) -> None:
    table = model.__table__
    (pk,) = REGISTRY[model].pk  # keyset pages need a single-column key; every protected table has one
    after = None
    while True:
        with session_factory() as session, session.begin():
            query = select(table.c[pk], table.c[column]).where(table.c[column].is_not(None)).order_by(table.c[pk]).limit(batch_size)
            rows = session.execute(query if after is None else query.where(table.c[pk] > after)).all()
            for key, blob in rows:
                _rewrap_one(session, ring, table, pk, column, key, blob, report)
        if not rows:
            return
        report.batches += 1
        after = rows[-1][0]


def _rewrap_one(session, ring: Keyring, table, pk: str, column: str, key, blob: bytes, report: RewrapReport) -> None:
    header = envelope.read_header(blob)
    if header.version == ring.primary:
        return
    fresh = envelope.rewrap(blob, ring.master(header.version), ring.primary, ring.master(ring.primary))
    done = session.execute(update(table).where(table.c[pk] == key, table.c[column] == blob).values({column: fresh}))
    if done.rowcount == 1:
        report.rewrapped += 1
        report.per_column[f"{table.name}.{column}"] += 1
    else:
        report.changed_meanwhile += 1
