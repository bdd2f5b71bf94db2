"""A throwaway PgBouncer in front of a `TempPostgres`, for tests and benchmarks that exercise the
production layout (many API processes → one connection pooler → PostgreSQL).

    with TempPostgres() as pg, TempPgBouncer(pg) as bouncer:
        Database(bouncer.url)   # postgresql+psycopg://…:PORT/juhe?pgbouncer=true

Transaction pooling: a server connection is lent for one transaction, so a few dozen server
connections serve hundreds of clients. The URL's `pgbouncer=true` tells Juhe's engine to use no
server-side prepared statements, which PgBouncer 1.18 (Debian 12) cannot carry across the
connections it lends. Like PostgreSQL, PgBouncer refuses to run as root: it runs as `postgres`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from juhe.db.temp_postgres import SUPERUSER, PostgresUnavailable, TempPostgres

START_TIMEOUT_S = 20.0


class TempPgBouncer:
    def __init__(self, postgres: TempPostgres, *, pool_mode: str = "transaction", pool_size: int = 20,
                 max_clients: int = 1000):
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).is_file():
            raise PostgresUnavailable("pgbouncer is not installed (Debian package pgbouncer)")
        self.postgres, self.port = postgres, _free_port()
        self.dir = postgres.dir / "pgbouncer"
        self.dir.mkdir(exist_ok=True)
        (self.dir / "userlist.txt").write_text(f'"{SUPERUSER}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={postgres.host} port={postgres.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir / 'userlist.txt'}\n"
            f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = {max_clients}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n")
        if os.geteuid() == 0:
            shutil.chown(self.dir, SUPERUSER)
            for name in ("userlist.txt", "pgbouncer.ini"):
                shutil.chown(self.dir / name, SUPERUSER)
        command = [binary, str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT, cwd=self.dir)
        self._wait_ready()
        database = postgres.url.rsplit("/", 1)[1]
        self.url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}?pgbouncer=true"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PostgresUnavailable(f"pgbouncer exited with {self.process.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise PostgresUnavailable(f"pgbouncer did not listen within {START_TIMEOUT_S:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 10) -> str:
        log = self.dir / "pgbouncer.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> TempPgBouncer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
