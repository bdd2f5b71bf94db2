"""Engine and sessions for SQLite (embedded default) and PostgreSQL (production).

Database work is synchronous (SQLAlchemy sessions, the ledger); async code reaches it only
through `Database.run`, which runs it on this database's own thread pool, sized to the
connection pool, so that the event loop never waits for a lock, a query or an fsync.
`loop_guard` makes any checkout of a connection on an event-loop thread an error (tests) or a
logged warning (production)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

import structlog
from alembic import command
from alembic.config import Config
from prometheus_client import Counter
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 8  # SQLite has one writer at a time; more connections only serve readers
POSTGRES_POOL_SIZE = 20
POSTGRES_MAX_OVERFLOW = 10
# Statements that change nothing: a transaction made only of these is not a durable commit.
READ_ONLY_PREFIXES = ("SELECT", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "SHOW", "SET")

COMMITS = Counter("juhe_db_commits_total", "Database transactions committed that wrote something")
log = structlog.get_logger()
T = TypeVar("T")


class BlockingDatabaseCall(RuntimeError):
    """A connection was taken on an event-loop thread: the loop would wait for the database."""


class LoopGuard:
    """Watches for connections checked out on a thread that runs an event loop."""

    def __init__(self) -> None:
        self.strict = False  # tests: raise; production: log once per call site
        self.allowed = threading.local()

    def check(self) -> None:
        if getattr(self.allowed, "depth", 0):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # not on a loop thread: fine
        if self.strict:
            raise BlockingDatabaseCall("database work on the event loop: run it through Database.run")
        log.warning("db.blocking_call_on_event_loop", stack_info=True)

    def allow(self):
        """Start-up and shut-down may block the loop (nothing is being served yet)."""
        guard = self

        class _Allowed:
            def __enter__(self):
                guard.allowed.depth = getattr(guard.allowed, "depth", 0) + 1

            def __exit__(self, *exc):
                guard.allowed.depth -= 1

        return _Allowed()


loop_guard = LoopGuard()


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, **kwargs)
    else:
        url, kwargs = _behind_pgbouncer(url, kwargs)
        kwargs.setdefault("pool_size", POSTGRES_POOL_SIZE)
        kwargs.setdefault("max_overflow", POSTGRES_MAX_OVERFLOW)
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
    _count_commits(engine)
    event.listen(engine, "checkout", lambda *_: loop_guard.check())
    return engine


def _behind_pgbouncer(url: str, kwargs: dict) -> tuple[URL, dict]:
    """`?pgbouncer=true`: the server connection changes between transactions (transaction
    pooling), so no server-side prepared statements (psycopg would prepare after 5 runs)."""
    parsed = make_url(url)
    if parsed.query.get("pgbouncer", "false").lower() in ("true", "1", "yes"):
        kwargs = {**kwargs, "connect_args": {**kwargs.get("connect_args", {}), "prepare_threshold": None}}
    return parsed.difference_update_query(["pgbouncer"]), kwargs


def pool_capacity(engine: Engine) -> int:
    pool = engine.pool
    size = getattr(pool, "size", lambda: 5)()
    return size + max(getattr(pool, "_max_overflow", 0), 0)


def _sqlite_engine(url: str, **kwargs) -> Engine:
    if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
        kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
    # One writer at a time in this process, queued here: SQLite's own busy handler makes a
    # waiting writer sleep up to 100 ms between tries, which is most of a payment's budget.
    writer = threading.Lock()

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is DEFERRED, which would
        # let two writers both read a balance before either takes the write lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged payment survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # Writers take the lock at BEGIN, so a read-then-write can never be overtaken.
        # Read-only work opts out with execution_options(sqlite_read_only=True).
        if connection.get_execution_options().get("sqlite_read_only", False):
            connection.exec_driver_sql("BEGIN DEFERRED")
            return
        if not writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise TimeoutError("waited 30 s for this process's SQLite writer")
        connection.info["juhe_writer"] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    def _release(connection) -> None:
        try:
            info = connection.info
        except NotImplementedError:  # an ad-hoc connection (first connect, pool reset) never took the lock
            return
        if info.pop("juhe_writer", False):
            writer.release()

    # Released once COMMIT/ROLLBACK has returned: the engine's "commit" event fires before it,
    # and a writer let in then meets SQLite's lock still held (fsync) and its busy handler's sleeps.
    dialect = engine.dialect
    do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

    def commit_then_release(pooled) -> None:
        try:
            do_commit(pooled)
        finally:
            _release(pooled)

    def rollback_then_release(pooled) -> None:
        try:
            do_rollback(pooled)
        finally:
            _release(pooled)

    dialect.do_commit, dialect.do_rollback = commit_then_release, rollback_then_release
    event.listen(engine, "checkin", lambda _dbapi, record: _release(record))  # a connection closed mid-transaction
    return engine


def wrote(cursor, statement: str) -> bool:
    """Whether a statement just run changed something durable."""
    # An UPDATE or DELETE that matched no row (a housekeeping sweep with nothing due) wrote nothing.
    return cursor.rowcount != 0 and not statement.lstrip()[:9].upper().startswith(READ_ONLY_PREFIXES)


def _count_commits(engine: Engine) -> None:
    @event.listens_for(engine, "after_cursor_execute")
    def mark_write(connection, cursor, statement, *_args) -> None:
        if wrote(cursor, statement):
            connection.info["juhe_wrote"] = True

    @event.listens_for(engine, "commit")
    def count(connection) -> None:
        if connection.info.pop("juhe_wrote", False):
            COMMITS.inc()

    @event.listens_for(engine, "rollback")
    def forget(connection) -> None:
        # A connection the server dropped (a restart) is invalidated: asking it for .info would raise
        # PendingRollbackError in the middle of the rollback, hiding the error the request should answer.
        if not connection.invalidated:
            connection.info.pop("juhe_wrote", None)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (the app does this on start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with loop_guard.allow(), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    def __init__(self, url: str, *, migrate: bool = True, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        if migrate:
            upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Readers never take SQLite's write lock (WAL lets them run beside the writer).
        self.read_sessions = sessionmaker(self.engine.execution_options(sqlite_read_only=True), expire_on_commit=False)
        self._threads: ThreadPoolExecutor | None = None
        self._threads_lock = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        """A session that may write: on SQLite its transaction takes the write lock at BEGIN."""
        return self.sessions()

    def reader(self) -> Session:
        """A session for reading only."""
        return self.read_sessions()

    async def run(self, fn: Callable[..., T], /, *args, **kwargs) -> T:
        """`fn(*args, **kwargs)` on the database's threads; the loop goes on meanwhile."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.threads, call)

    @property
    def threads(self) -> ThreadPoolExecutor:
        # One thread per pooled connection: more would only queue for a connection.
        with self._threads_lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(pool_capacity(self.engine), thread_name_prefix="juhe-db")
            return self._threads

    def dispose(self) -> None:
        with self._threads_lock:
            if self._threads is not None:
                self._threads.shutdown(wait=True)
                self._threads = None
        self.engine.dispose()
