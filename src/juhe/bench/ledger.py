"""`juhe bench ledger`: balanced two-entry transfers per second through the ledger, beside a
baseline of plain INSERTs of the same rows measured in the same run.

For each database (SQLite, PostgreSQL):

1. Open `accounts` accounts: half are merchant payables that forbid overdraft, the rest
   channel clearing accounts; plus one bank reserve account that funds the payables.
2. Baseline: the same transfers written as plain INSERTs -- one ledger_transactions row and
   two ledger_entries rows each, the same columns and value shapes, through SQLAlchemy Core
   on the same engine and tables -- first one per commit, then `batch_size` per commit. No
   ledger logic: no locks, no idempotency lookup, no balance check or update.
3. The baseline's rows are removed (TRUNCATE / DELETE; accounts stay, their balances were
   never touched), the payables are funded through the ledger, and the ledger posts the very
   same transfers: one per commit with `post`, then batched with `post_many`.
4. After each ledger run `verify_ledger` must pass and every transfer must be there, or
   `BenchError` is raised. Nothing is switched off: no-overdraft checks, locks, idempotency
   keys and the paired balance assertion all run as in production.

Both sides time the same work: turning a prepared transfer into what the writer needs
(commands or row dicts), writing it, committing. Transfers are random pairs of accounts with
random amounts (seeded, so every run is the same); the payables are funded so that no
transfer can fail, which keeps a failed batch from ever hiding inside a rate.

PostgreSQL runs with its durable defaults (fsync, synchronous_commit on), SQLite with the
engine's WAL + synchronous=FULL: a committed transfer survives power loss on both.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rich.progress import Progress
from sqlalchemy import create_engine, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from uuid_utils.compat import uuid7

from juhe.bench.report import Advance, Comparison, Report, track
from juhe.db.engine import Database
from juhe.db.models import Merchant, new_id
from juhe.db.types import utcnow
from juhe.ledger import LedgerError, open_account, payable_code, post_many, transfer, verify_database
from juhe.ledger.posting import ACCOUNTS, ENTRIES, TXNS
from juhe.ledger.rules import BATCH_MAX

BACKENDS = ("sqlite", "postgresql")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
AIM_BATCH_TPS = {"sqlite": 30_000, "postgresql": 10_000}  # from the issue
AIM_BATCH_RATIO = 0.5
DEFAULT_TRANSFERS = 100_000
DEFAULT_SINGLE = 2_000
DEFAULT_ACCOUNTS = 1_000
BATCH_SIZE = 1_000
CURRENCY = "CNY"
MAX_AMOUNT = 10_000  # ¥100.00
MERCHANTS = 10
SEED = 20_250_601
DESCRIPTION = "bench transfer"


class BenchError(RuntimeError):
    """The benchmark could not run, or the ledger did not verify after it."""


@dataclass(frozen=True, slots=True)
class PlannedTransfer:
    key: str
    debit: uuid.UUID
    credit: uuid.UUID
    amount: int
    merchant_id: uuid.UUID | None
    metadata: dict
    baseline_hash: str  # the baseline's content_hash: a value of the ledger's shape, not computed


@dataclass(slots=True)
class Accounts:
    ids: list[uuid.UUID]  # the accounts transfers spread over
    no_overdraft: list[uuid.UUID]  # funded before the ledger runs
    source: uuid.UUID  # the bank reserve that funds them
    merchant_of: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)


Writer = Callable[[Connection, Sequence[PlannedTransfer]], None]


def run(
    *,
    transfers: int = DEFAULT_TRANSFERS,
    single: int = DEFAULT_SINGLE,
    accounts: int = DEFAULT_ACCOUNTS,
    postgres_url: str | None = None,
    sqlite_path: str | Path | None = None,
    only: str | None = None,
    batch_size: int = BATCH_SIZE,
    keep: bool = False,
    seed: int = SEED,
    progress: Progress | None = None,
) -> Report:
    """Run the benchmark; `report.figures()` is the `--json` object.

    Without `postgres_url` a throwaway PostgreSQL is started (durable settings) and stopped
    after. With one, the benchmark works in a fresh schema of that database, dropped after
    unless `keep`. `sqlite_path` must not exist yet and is kept; by default a temp file is used.
    """
    if only is not None and only not in BACKENDS:
        raise BenchError(f"--only must be one of {', '.join(BACKENDS)}, not {only!r}")
    if transfers < 1 or single < 1:
        raise BenchError("--transfers and --single must be at least 1")
    if accounts < 2:
        raise BenchError("--accounts must be at least 2: a transfer needs two accounts")
    if not 1 <= batch_size <= BATCH_MAX:
        raise BenchError(f"the batch size must be 1–{BATCH_MAX:,}")
    report = Report(
        f"Ledger vs. plain INSERTs of the same rows ({accounts:,} accounts, half no-overdraft)"
    )
    for backend in [only] if only else BACKENDS:
        opener = _sqlite if backend == "sqlite" else _postgresql
        with opener(sqlite_path if backend == "sqlite" else postgres_url, keep, report) as db:
            _bench(db.engine, backend, transfers, single, accounts, batch_size, seed, report, progress)
    return report


# -- one database ---------------------------------------------------------------------------


def _bench(engine: Engine, backend: str, transfers: int, single: int, n_accounts: int, batch_size: int,
           seed: int, report: Report, progress: Progress | None) -> None:
    label = LABELS[backend]
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:8]
    with engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(TXNS)) or conn.scalar(select(func.count()).select_from(ACCOUNTS)):
            raise BenchError(f"{label}: the benchmark needs an empty database")
        accounts = _open_accounts(conn, n_accounts, rng)
    singles = _plan_transfers(rng, accounts, single, f"bench:{run_id}:single")
    batched = _plan_transfers(rng, accounts, transfers, f"bench:{run_id}:batch")

    baseline_single = _timed(engine, singles, 1, _insert_rows, track(progress, f"{label} baseline, one per commit", single))
    baseline_batch = _timed(engine, batched, batch_size, _insert_rows,
                            track(progress, f"{label} baseline, batched", transfers))
    _remove_baseline_rows(engine, backend)

    funding = (transfers + single) * MAX_AMOUNT  # enough for every transfer to debit one account
    try:
        funded = _fund(engine, accounts, funding, f"bench:{run_id}:fund")
        _verify(engine, label, funded, "after funding")
        ledger_single = _timed(engine, singles, 1, _post, track(progress, f"{label} ledger, one per commit", single))
        _verify(engine, label, funded + single, "after the one-per-commit run")
        ledger_batch = _timed(engine, batched, batch_size, _post, track(progress, f"{label} ledger, batched", transfers))
        _verify(engine, label, funded + single + transfers, "after the batched run")
    except LedgerError as e:
        raise BenchError(f"{label}: the ledger rejected a benchmark batch: {e}") from e

    report.add(Comparison(backend, "single", "1/commit", single, ledger_single, baseline_single,
                          group_label=label, unit_label="transfers/s"))
    report.add(Comparison(backend, "batch", f"{batch_size:,}/commit", transfers, ledger_batch,
                          baseline_batch, group_label=label, unit_label="transfers/s",
                          aim_rate=AIM_BATCH_TPS[backend], aim_ratio=AIM_BATCH_RATIO))


def _open_accounts(conn: Connection, n: int, rng: random.Random) -> Accounts:
    merchants = [new_id() for _ in range(MERCHANTS)]
    conn.execute(insert(Merchant.__table__), [
        {"id": m, "name": f"Bench merchant {i}", "industry": "retail", "created_at": utcnow()}
        for i, m in enumerate(merchants)
    ])
    ids: list[uuid.UUID] = []
    no_overdraft: list[uuid.UUID] = []
    merchant_of: dict[uuid.UUID, uuid.UUID | None] = {}
    for i in range(n):
        if i % 2 == 0:  # a store's payable: what we owe the merchant may never go below zero
            merchant, store = merchants[i % MERCHANTS], new_id()
            account = open_account(conn, payable_code(merchant, store), CURRENCY, merchant_id=merchant,
                                   no_overdraft=True, owner_type="store", owner_id=store)
            no_overdraft.append(account)
        else:  # due from a channel: may go either way
            merchant = None
            account = open_account(conn, f"clearing:bench-{i}", CURRENCY)
        ids.append(account)
        merchant_of[account] = merchant
    source = open_account(conn, "reserve:bench-bank", CURRENCY)
    rng.shuffle(ids)
    return Accounts(ids, no_overdraft, source, merchant_of)


def _plan_transfers(rng: random.Random, accounts: Accounts, count: int, prefix: str) -> list[PlannedTransfer]:
    ids, n = accounts.ids, len(accounts.ids)
    planned = []
    for i in range(count):
        d = rng.randrange(n)
        c = rng.randrange(n - 1)
        c += c >= d
        debit, credit = ids[d], ids[c]
        merchant = accounts.merchant_of[debit] or accounts.merchant_of[credit]
        planned.append(PlannedTransfer(
            f"{prefix}:{i}", debit, credit, rng.randint(1, MAX_AMOUNT), merchant,
            {"order": f"O{rng.getrandbits(40):012d}"}, f"{rng.getrandbits(128):032x}",
        ))
    return planned


def _timed(engine: Engine, planned: Sequence[PlannedTransfer], size: int, write: Writer, advance: Advance) -> float:
    """Transfers per second writing `size` transfers per commit on one connection."""
    with engine.connect() as conn:
        start = time.perf_counter()
        for i in range(0, len(planned), size):
            chunk = planned[i : i + size]
            with conn.begin():
                write(conn, chunk)
            advance(len(chunk))
        elapsed = time.perf_counter() - start
    return len(planned) / elapsed


def _post(conn: Connection, planned: Sequence[PlannedTransfer]) -> None:
    post_many(conn, [
        transfer(t.key, t.debit, t.credit, t.amount, merchant_id=t.merchant_id, description=DESCRIPTION,
                 metadata=t.metadata)
        for t in planned
    ])


def _insert_rows(conn: Connection, planned: Sequence[PlannedTransfer]) -> None:
    """The baseline: the rows the ledger writes for these transfers, plainly inserted."""
    now = utcnow()
    txns, entries = [], []
    for t in planned:
        txn_id = uuid7()
        txns.append({
            "id": txn_id, "merchant_id": t.merchant_id, "idempotency_key": t.key, "content_hash": t.baseline_hash,
            "kind": "posting", "status": "posted", "hold_id": None, "reverses_id": None, "description": DESCRIPTION,
            "metadata": dict(t.metadata), "expires_at": None, "created_at": now,
        })
        entries.append({"transaction_id": txn_id, "merchant_id": t.merchant_id, "account_id": t.debit,
                        "currency": CURRENCY, "amount_minor": t.amount})
        entries.append({"transaction_id": txn_id, "merchant_id": t.merchant_id, "account_id": t.credit,
                        "currency": CURRENCY, "amount_minor": -t.amount})
    conn.execute(insert(TXNS), txns)
    conn.execute(insert(ENTRIES), entries)


def _remove_baseline_rows(engine: Engine, backend: str) -> None:
    with engine.begin() as conn:
        if backend == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {ENTRIES.name}, {TXNS.name} CASCADE")  # other domains reference transactions; empty here
        else:
            conn.execute(delete(ENTRIES))
            conn.execute(delete(TXNS))


def _fund(engine: Engine, accounts: Accounts, amount: int, prefix: str) -> int:
    """Credit every no-overdraft payable from the bank reserve; returns how many transfers."""
    commands = [transfer(f"{prefix}:{i}", accounts.source, account, amount, description="bench funding")
                for i, account in enumerate(accounts.no_overdraft)]
    with engine.connect() as conn:
        for i in range(0, len(commands), BATCH_SIZE):
            with conn.begin():
                post_many(conn, commands[i : i + BATCH_SIZE])
    return len(commands)


def _verify(engine: Engine, label: str, expected: int, when: str) -> None:
    result = verify_database(engine)
    if not result.ok:
        shown = "; ".join(result.problems[:5])
        raise BenchError(f"{label}: the ledger does not verify {when}: {len(result.problems)} problem(s): {shown}")
    if result.transactions != expected or result.entries != 2 * expected:
        raise BenchError(f"{label}: {when} the ledger holds {result.transactions} transactions and "
                         f"{result.entries} entries, expected {expected} and {2 * expected}")


# -- databases ------------------------------------------------------------------------------


@contextmanager
def _sqlite(path: str | Path | None, keep: bool, report: Report) -> Iterator[Database]:
    temp_dir = None
    if path is None:
        temp_dir = tempfile.mkdtemp(prefix="juhe-bench-")
        file = Path(temp_dir) / "ledger.db"
    else:
        file = Path(path)
        if file.exists():
            raise BenchError(f"{file} exists: give --sqlite-path a new file (the benchmark needs an empty database)")
        file.parent.mkdir(parents=True, exist_ok=True)
    db = Database(f"sqlite:///{file}")
    try:
        yield db
    finally:
        db.dispose()
        if temp_dir is not None and not keep:
            shutil.rmtree(temp_dir, ignore_errors=True)
    kept = f", kept at {file}" if temp_dir is None or keep else ""
    report.notes.append(f"SQLite {sqlite3.sqlite_version}: WAL, synchronous=FULL, BEGIN IMMEDIATE{kept}.")


@contextmanager
def _postgresql(url: str | None, keep: bool, report: Report) -> Iterator[Database]:
    if url is None:
        from juhe.db.temp_postgres import PostgresUnavailable, TempPostgres

        try:
            server = TempPostgres()  # durable defaults: fsync and synchronous_commit on
        except PostgresUnavailable as e:
            raise BenchError(f"could not start a throwaway PostgreSQL (give --postgres-url or --only sqlite): {e}") from e
        try:
            db = Database(server.url)
            try:
                yield db
                _note_postgres(db, report, "a throwaway server, default durable settings")
            finally:
                db.dispose()
        finally:
            server.stop()
        return
    # A given server: work in a fresh schema of our own and leave the rest of the database alone.
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BenchError(f"--postgres-url must be a PostgreSQL URL, not {parsed.drivername}")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    url = parsed.render_as_string(hide_password=False)
    schema = f"juhe_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        try:
            db = Database(url, connect_args={"options": f"-c search_path={schema}"})
            try:
                yield db
                _note_postgres(db, report, f"schema {schema}" + (" (kept)" if keep else " (dropped after)"))
            finally:
                db.dispose()
        finally:
            if not keep:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


def _note_postgres(db: Database, report: Report, where: str) -> None:
    with db.engine.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
        settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("fsync", "synchronous_commit")}
    report.notes.append(f"PostgreSQL {version} ({where}): fsync={settings['fsync']}, "
                        f"synchronous_commit={settings['synchronous_commit']}, psycopg 3.")
