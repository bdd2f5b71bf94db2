"""`juhe serve`: the API in one process, or in N (uvicorn worker processes sharing one port).

One process (the default, and the demo's): the API, hosting the channels' sandboxes when
`JUHE_CHANNEL_MODE=sandbox`. N processes (production, on PostgreSQL): each an API without a
worker — run `juhe worker` beside them — and without hosted sandboxes (N processes cannot all
bind the sandboxes' ports; in sandbox mode start them with `juhe sandbox <code>`). Every process
is stateless: payments, risk velocity, idempotency and the outbox live in the database.
Prometheus figures of all N are summed at any process's /metrics (PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import os
import shutil

import uvicorn

from juhe.config import Settings


class ServeError(ValueError):
    """A layout that cannot work (said before anything starts)."""


def serve(settings: Settings, host: str, port: int, workers: int = 1, factory: str = "juhe.serve:worker_app") -> None:
    if workers < 1:
        raise ServeError("--workers must be at least 1")
    if workers == 1:
        from juhe.api.app import create_app

        uvicorn.run(create_app(), host=host, port=port, log_level=settings.log_level)
        return
    if settings.database_url.startswith("sqlite"):
        raise ServeError("--workers > 1 needs PostgreSQL (JUHE_DATABASE_URL=postgresql+psycopg://…): SQLite has "
                         "one writer per file, and one process already keeps it busy")
    _migrate(settings)  # once, before the processes start (each opens the database without migrating)
    _shared_metrics(settings)
    uvicorn.run(factory, factory=True, workers=workers, host=host, port=port, log_level=settings.log_level,
                access_log=False)


def worker_app():
    """One of N API processes (uvicorn imports this in each)."""
    from juhe.api.app import create_app
    from juhe.config import get_settings
    from juhe.db.engine import Database
    from juhe.runtime import Runtime

    settings = get_settings()
    db = Database(settings.database_url, migrate=False)  # the parent migrated once, before forking
    return create_app(db, Runtime(settings, db, host_sandboxes=False))


def _shared_metrics(settings: Settings) -> None:
    """A fresh directory for the processes' Prometheus files (prometheus_client's multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = settings.data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _migrate(settings: Settings) -> None:
    from juhe.db.engine import Database

    Database(settings.database_url).dispose()
