"""`juhe bench trace`: events appended to the Merkle log per second, in batches, beside a baseline
measured in the same run: plain SHA-256 of the same leaves in memory (what any log must do
at least once per leaf, with no tree, no database and no commit).

For each database (SQLite, PostgreSQL — a throwaway server unless given a URL): the same
`events` leaves (payment-shaped canonical JSON) appended `batch` per transaction through
`juhe.trace.log.append` (frontier lock, entries, perfect-subtree nodes, frontier update,
commit), then the root of the stored tree is checked against the root computed in memory."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import typer

from juhe.bench.report import Comparison, Report
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.trace import log, merkle

BACKENDS = ("sqlite", "postgresql")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
AIM_APPENDS_PER_S = 5_000  # from the issue
BATCH_MAX = log.APPEND_BATCH_MAX


class BenchError(RuntimeError):
    """The benchmark could not run, or the stored tree's root was not the one computed in memory."""


def _events(n: int, offset: int) -> list[log.Event]:
    at = utcnow()
    return [log.Event(kind="payment", object_id=f"bench_{offset + i}", event="succeeded", at=at + timedelta(microseconds=i),
                      facts={"amount_minor": 1288 + i % 1000, "currency": "CNY", "cause": "channel_notification"},
                      source="bench", source_key=str(offset + i)) for i in range(n)]


def _baseline_rate(leaves: list[bytes]) -> float:
    started = time.perf_counter()
    for leaf in leaves:
        hashlib.sha256(leaf).digest()
    return len(leaves) / (time.perf_counter() - started)


def _bench(db: Database, backend: str, events: int, batch: int, report: Report) -> None:
    planned = [_events(min(batch, events - start), start) for start in range(0, events, batch)]
    leaves = [event.data().encode() for chunk in planned for event in chunk]
    baseline = _baseline_rate(leaves)
    started = time.perf_counter()
    for chunk in planned:
        with db.session() as session, session.begin():
            log.append(session, chunk)
    rate = events / (time.perf_counter() - started)
    expected, _ = merkle.append(merkle.EMPTY, [merkle.leaf_hash(leaf) for leaf in leaves])
    with db.reader() as session:
        if log.root_at(session, log.tree_size(session)) != expected.root():
            raise BenchError(f"{LABELS[backend]}: the stored tree's root is not the one computed from the leaves")
    report.add(Comparison(backend, "batch", f"{batch:,}/commit", events, rate, baseline, group_label=LABELS[backend],
                          unit="appends_per_s", aim_rate=AIM_APPENDS_PER_S))


@contextmanager
def _database(backend: str, postgres_url: str | None) -> Iterator[Database]:
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="juhe-bench-trace-")
        db = Database(f"sqlite:///{folder}/trace.db")
        try:
            yield db
        finally:
            db.dispose()
            shutil.rmtree(folder, ignore_errors=True)
        return
    server = None
    if postgres_url is None:
        from juhe.db.temp_postgres import TempPostgres

        try:
            server = TempPostgres()  # durable defaults: fsync and synchronous_commit on
        except Exception as e:  # any failure to start is reported the same way
            raise BenchError(f"could not start a throwaway PostgreSQL (give --postgres-url or --only sqlite): {e}") from e
        postgres_url = server.create_database("bench_trace")
    db = Database(postgres_url)
    try:
        yield db
    finally:
        db.dispose()
        if server is not None:
            server.stop()


def run(*, events: int = 100_000, batch: int = 1_000, only: str | None = None, postgres_url: str | None = None) -> Report:
    if only is not None and only not in BACKENDS:
        raise BenchError(f"--only must be one of {', '.join(BACKENDS)}, not {only!r}")
    if events < 1 or not 1 <= batch <= BATCH_MAX:
        raise BenchError(f"--events must be at least 1 and --batch 1–{BATCH_MAX:,}")
    report = Report(f"Merkle log appends vs. plain SHA-256 of the same leaves ({events:,} events)")
    for backend in [only] if only else BACKENDS:
        with _database(backend, postgres_url) as db:
            _bench(db, backend, events, batch, report)
    report.notes.append("The baseline hashes in memory only; the log also stores every leaf and its tree nodes durably.")
    return report


def bench_trace(
    events: int = typer.Option(100_000, "--events", help="Events to append (each side)."),
    batch: int = typer.Option(1_000, "--batch", help="Events per append (one transaction)."),
    only: str = typer.Option(None, "--only", help="sqlite or postgresql (default: both)."),
    postgres_url: str = typer.Option(None, "--postgres-url", help="An empty database to use; default: a throwaway server."),
    as_json: bool = typer.Option(False, "--json", help='Print {"sqlite": {batch_appends_per_s, baseline_batch_appends_per_s, '
                                 'batch_ratio}, "postgresql": {...}}.'),
) -> None:
    """Merkle log appends per second on SQLite and PostgreSQL, beside plain SHA-256 of the same leaves."""
    from rich.console import Console

    try:
        result = run(events=events, batch=batch, only=only, postgres_url=postgres_url)
    except BenchError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    result.print(as_json=as_json)
