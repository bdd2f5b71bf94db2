"""A throwaway PostgreSQL server for tests and benchmarks.

    with TempPostgres(fast=True) as pg:
        pg.url                        # postgresql+psycopg://postgres@127.0.0.1:PORT/juhe
        pg.create_database("other")   # -> URL of a new, empty database

PostgreSQL refuses to run as root: when we are root, every server binary runs as
the ``postgres`` system user (via ``runuser``) on a data dir owned by that user.
As any other user the binaries run directly. Only the standard library is needed;
psycopg is imported lazily for creating and dropping databases.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["TempPostgres", "PostgresUnavailable", "find_bin_dir"]

SUPERUSER = "postgres"
DEFAULT_DB = "juhe"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be found or started; the message says why."""


def find_bin_dir() -> Path:
    """Newest /usr/lib/postgresql/<major>/bin with a postgres binary ($JUHE_PG_BIN wins)."""
    override = os.environ.get("JUHE_PG_BIN")
    if override:
        if (Path(override) / "postgres").is_file():
            return Path(override)
        raise PostgresUnavailable(f"JUHE_PG_BIN={override} has no postgres binary")
    found = []
    for p in glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        m = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin/", p)
        if m:
            found.append(((int(m.group(1)), int(m.group(2) or 0)), Path(p).parent))
    if not found:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin "
            "(install the Debian package 'postgresql')"
        )
    return max(found)[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempPostgres:
    """Start a private PostgreSQL server in a temp dir; ``stop()`` removes everything.

    ``fast=True`` trades durability for speed (fsync, synchronous_commit and
    full_page_writes off) -- fine for a test suite, wrong for a durability benchmark.
    """

    def __init__(
        self,
        *,
        fast: bool = False,
        database: str | None = DEFAULT_DB,
        max_connections: int = 200,
        settings: dict[str, str | int] | None = None,
        base_dir: str | None = None,
        start_timeout: float = 60.0,
        start: bool = True,
    ) -> None:
        self.fast = fast
        self.database = database
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.base_dir = base_dir
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.dir: Path | None = None
        self.url: str | None = None
        self.bin_dir: Path | None = None
        self._as_root = os.geteuid() == 0
        self._running = False
        if start:
            self.start()

    # -- paths and commands -------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.dir is not None
        return self.dir  # owned by postgres, short path (sun_path is 107 bytes)

    @property
    def log_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "postgres.log"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        assert self.bin_dir is not None and self.dir is not None
        cmd = [str(self.bin_dir / tool), *args]
        if self._as_root:
            cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        # cwd inside our dir: postgres may not be allowed into the caller's cwd.
        proc = subprocess.run(
            cmd, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )
        if proc.returncode != 0:
            raise PostgresUnavailable(
                f"{tool} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                f"{proc.stdout.strip()}{self._log_tail()}"
            )
        return proc

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- postgres.log ---\n" + "\n".join(text) if text else ""

    # -- lifecycle ----------------------------------------------------------

    def _make_dir(self) -> Path:
        d = Path(tempfile.mkdtemp(prefix="juhe-pg-", dir=self.base_dir))
        if self._as_root:
            import pwd

            try:
                pw = pwd.getpwnam(SUPERUSER)
            except KeyError:
                shutil.rmtree(d, ignore_errors=True)
                raise PostgresUnavailable(
                    f"running as root but there is no '{SUPERUSER}' system user "
                    "to run PostgreSQL as"
                ) from None
            os.chown(d, pw.pw_uid, pw.pw_gid)
            ok = subprocess.run(["runuser", "-u", SUPERUSER, "--", "test", "-w", str(d)],
                                cwd="/", stdin=subprocess.DEVNULL).returncode == 0
            if not ok:  # e.g. TMPDIR under /root: postgres cannot reach it
                shutil.rmtree(d, ignore_errors=True)
                if self.base_dir is None and tempfile.gettempdir() != "/tmp":
                    self.base_dir = "/tmp"
                    return self._make_dir()
                raise PostgresUnavailable(f"user '{SUPERUSER}' cannot write to {d}; "
                                          "pass base_dir= a directory it can reach")
        return d

    def _conf(self) -> str:
        conf: dict[str, str | int] = {
            "listen_addresses": f"'{self.host}'",
            "port": self.port,
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": self.max_connections,
            "logging_collector": "off",
        }
        if self.fast:
            conf.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        conf.update(self.settings)
        return "\n# --- TempPostgres ---\n" + "".join(f"{k} = {v}\n" for k, v in conf.items())

    def start(self) -> str | None:
        if self._running:
            return self.url
        self.bin_dir = find_bin_dir()
        self.dir = self._make_dir()
        try:
            self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust",
                      "-E", "UTF8", "--locale=C", *(["--no-sync"] if self.fast else []))
            # The free port can be taken by someone else before we bind it: retry.
            for attempt in range(5):
                self.port = _free_port()
                try:
                    self._start_server()
                    break
                except PostgresUnavailable:
                    if attempt == 4 or "already in use" not in self._log_tail(50):
                        raise
            self._running = True
            atexit.register(self.stop)
            self.url = self.create_database(self.database) if self.database else self.url_for("postgres")
        except BaseException:
            self.stop()
            raise
        return self.url

    def _start_server(self) -> None:
        conf = self.data_dir / "postgresql.conf"
        text = conf.read_text()
        text = text.split("\n# --- TempPostgres ---\n")[0] + self._conf()
        # postgresql.conf belongs to postgres; root may write it and keeps the owner.
        conf.write_text(text)
        self._run("pg_ctl", "start", "-w", "-t", str(int(self.start_timeout)),
                  "-D", str(self.data_dir), "-l", str(self.log_file),
                  timeout=self.start_timeout + 30)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"server did not accept connections: {e}"
                                              f"{self._log_tail()}") from e
                time.sleep(0.1)

    def restart(self, down_s: float = 0.0, mode: str = "immediate") -> None:
        """Stop the server (`immediate`: as a crash would, no checkpoint; recovery replays the WAL),
        stay down `down_s`, and start it again on the same port and data."""
        self._run("pg_ctl", "stop", "-m", mode, "-w", "-D", str(self.data_dir), timeout=60)
        time.sleep(down_s)
        self._start_server()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory. Idempotent."""
        if self.dir is None:
            return
        if self.data_dir.joinpath("postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data_dir), timeout=60)
            except (PostgresUnavailable, subprocess.TimeoutExpired):
                try:
                    self._run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.data_dir), timeout=30)
                except (PostgresUnavailable, subprocess.TimeoutExpired):
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        self._running = False
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self) -> "TempPostgres":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ----------------------------------------------------------

    def dsn(self, dbname: str) -> str:
        """libpq connection string (for psycopg.connect)."""
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname}"

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still using it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<TempPostgres {state} {self.url or ''}>"
