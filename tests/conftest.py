"""Shared fixtures.

pg_server   one throwaway PostgreSQL server per test session (juhe.db.temp_postgres, fast=True)
pg_url      SQLAlchemy URL of a fresh, empty database on it, dropped after the test
sqlite_url  SQLAlchemy URL of a SQLite file in the test's tmp_path

If PostgreSQL cannot start, tests that need it are skipped -- except under CI=true,
where they fail with the reason. Tests using pg_server/pg_url get the `postgres`
marker automatically, so `pytest -m "not postgres"` runs without a server.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest
import structlog

# Test receivers listen on 127.0.0.1, which production refuses as a webhook target.
os.environ.setdefault("JUHE_WEBHOOK_ALLOW_PRIVATE_URLS", "true")
# Apps under test serve store terminals on a free port, never on the fixed one of a real install.
os.environ.setdefault("JUHE_POS_GATEWAY_PORT", "0")
# One personal-data keyring for the whole run (and the processes it starts): a database sealed in one
# test's data_dir and read under another's (a copied template) opens, as it does in one deployment.
os.environ.setdefault("JUHE_PII_KEYRING_FILE", os.path.join(tempfile.mkdtemp(prefix="juhe-pii-"), "keyring.json"))

from juhe.db.temp_postgres import TempPostgres

PG_FIXTURES = {"pg_server", "pg_url"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(autouse=True)
def structlog_config_restored():
    """`juhe`'s root callback points structlog at sys.stderr, which under CliRunner is the runner's
    stream, closed after the invoke: every later log line in the process would fail on it."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def pg_server():
    reason = None
    try:
        server = TempPostgres(fast=True)
    except Exception as e:  # noqa: BLE001 -- any failure to start means "no PostgreSQL"
        reason = f"PostgreSQL could not start: {type(e).__name__}: {e}"
    if reason:  # outside the except block: no chained traceback in the report
        if _in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: TempPostgres):
    name = f"t_{uuid.uuid4().hex}"
    url = pg_server.create_database(name)
    yield url
    try:
        pg_server.drop_database(name)
    except Exception:  # noqa: BLE001 -- a leftover database dies with the server
        pass


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/juhe.db"
