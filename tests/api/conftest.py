"""Shared fixtures for the HTTP API tests.

api        the app on a fresh SQLite database, seeded with the demo (two merchants, a key per role)
api_any    the same, parametrized over SQLite and PostgreSQL (the core tests run on both)

`api.a` / `api.b` are the two demo merchants; `api.snapshot()` captures every row count and
every balance, so a test can prove that a rejected request changed nothing.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
import uuid
from dataclasses import dataclass

import psycopg
import pytest
import structlog
import structlog.testing
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import func, select

from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.db.models import (
    Account,
    ApiKey,
    BusinessLine,
    IdempotencyRecord,
    LedgerEntry,
    LedgerTransaction,
    Merchant,
    Store,
)
from juhe.demo import seed_demo
from juhe.ledger import verify_ledger

PROBLEM = "application/problem+json"
PLATFORM_TOKEN = "plat-0123456789abcdef"
COUNTED = (Merchant, Store, BusinessLine, ApiKey, Account, LedgerTransaction, LedgerEntry, IdempotencyRecord)


def assert_problem(response, status: int, code: str) -> dict:
    """The response is RFC 9457 problem+json with this status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM, response.headers
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(f"/{code}")
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def legs(*pairs: tuple[str, int]) -> list[dict]:
    return [{"account_id": str(account_id), "amount_minor": amount} for account_id, amount in pairs]


@dataclass
class Tenant:
    id: str
    name: str
    keys: dict[str, str]  # role -> secret
    _funding: str | None = None

    def h(self, role: str = "admin", idem: str | None = None, **extra: str) -> dict:
        headers = {"Authorization": f"Bearer {self.keys[role]}", **extra}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return headers


@dataclass
class Api:
    db: Database
    client: TestClient
    a: Tenant
    b: Tenant
    platform_token: str = PLATFORM_TOKEN

    # test modules cannot import this conftest (--import-mode=importlib): reach helpers here
    problem = staticmethod(assert_problem)
    legs = staticmethod(legs)

    @contextmanager
    def lenient(self):
        """Swap in a client that turns an unhandled error into the app's 500 answer instead of
        raising it in the test (for asserting that something is *not* a 500)."""
        saved = self.client
        with TestClient(create_app(self.db), raise_server_exceptions=False) as client:
            self.client = client
            try:
                yield client
            finally:
                self.client = saved

    # -- database views -------------------------------------------------------------------
    def snapshot(self) -> dict:
        """Every row count, balance, hold status, key revocation and idempotency record."""
        with self.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            counts = {m.__tablename__: conn.scalar(select(func.count()).select_from(m)) for m in COUNTED}
            a = Account.__table__.c
            balances = conn.execute(select(
                a.id, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending
            ).order_by(a.id)).all()
            t = LedgerTransaction.__table__.c
            statuses = conn.execute(select(t.id, t.status).order_by(t.id)).all()
            k = ApiKey.__table__.c
            keys = conn.execute(select(k.id, k.revoked_at).order_by(k.id)).all()
            i = IdempotencyRecord.__table__.c
            records = conn.execute(select(i.merchant_id, i.key, i.request_hash).order_by(i.merchant_id, i.key)).all()
        return {"counts": counts, "balances": [tuple(r) for r in balances], "statuses": [tuple(r) for r in statuses],
                "keys": [tuple(r) for r in keys], "records": [tuple(r) for r in records]}

    def count(self, model, **where) -> int:
        with self.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            query = select(func.count()).select_from(model)
            for column, value in where.items():
                query = query.where(getattr(model, column) == value)
            return conn.scalar(query)

    # -- API helpers -------------------------------------------------------------------------
    def open_account(self, tenant: Tenant, code: str, currency: str = "CNY", no_overdraft: bool = False) -> str:
        r = self.client.post("/v1/accounts", headers=tenant.h("finance"),
                             json={"code": code, "currency": currency, "no_overdraft": no_overdraft})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def accounts(self, tenant: Tenant) -> list[dict]:
        r = self.client.get("/v1/accounts", headers=tenant.h("finance"), params={"limit": 200})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def payable(self, tenant: Tenant) -> str:
        """The merchant's own payable (seeded with no_overdraft)."""
        (found,) = [x["id"] for x in self.accounts(tenant) if x["code"] == f"payable:{tenant.id}"]
        return found

    def store_payables(self, tenant: Tenant) -> list[str]:
        return [x["id"] for x in self.accounts(tenant) if x["owner_type"] == "store"]

    def post(self, tenant: Tenant, entries: list[dict], key: str | None = None, role: str = "finance", **body):
        return self.client.post("/v1/ledger/transactions", headers=tenant.h(role, idem=key or uuid.uuid4().hex),
                                json={"entries": entries, **body})

    def fund(self, tenant: Tenant, account_id: str, amount: int) -> dict:
        """Credit `amount` to a liability account from the tenant's receivable."""
        if tenant._funding is None:
            tenant._funding = self.open_account(tenant, "receivable:funding")
        r = self.post(tenant, legs((tenant._funding, amount), (account_id, -amount)))
        assert r.status_code == 201, r.text
        return r.json()

    def balance(self, tenant: Tenant, account_id: str) -> dict:
        r = self.client.get(f"/v1/accounts/{account_id}/balance", headers=tenant.h("finance"))
        assert r.status_code == 200, r.text
        return r.json()


def _make_api(db: Database, demo: dict) -> Api:
    retail, shop = (Tenant(m["id"], m["name"], m["api_keys"]) for m in demo["merchants"])
    return Api(db, TestClient(create_app(db)), retail, shop)


def _run(db: Database, demo: dict, tmp_path, monkeypatch):
    # No channel sandboxes (ports, key files in the working directory): these tests are about
    # the API's own contract. `live` mode with no channel configured starts none.
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    monkeypatch.delenv("JUHE_PLATFORM_TOKEN", raising=False)
    get_settings.cache_clear()
    api = _make_api(db, demo)
    try:
        with api.client:
            yield api
        # Whatever a test did through the API, the ledger is still consistent.
        with api.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            report = verify_ledger(conn)
        assert report.ok, report.problems
    finally:
        api.db.dispose()
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def sqlite_demo_template(tmp_path_factory):
    """Migrated and seeded once; each test gets a copy (migrating per test is most of the setup)."""
    folder = tmp_path_factory.mktemp("api-template")
    db = Database(f"sqlite:///{folder}/juhe.db")
    demo = seed_demo(db, folder / "demo-keys.json")
    db.dispose()  # the last connection closing checkpoints the WAL into the file
    assert not (folder / "juhe.db-wal").exists()
    return folder / "juhe.db", demo


def _sqlite_db(sqlite_url: str, template) -> tuple[Database, dict]:
    path, demo = template
    shutil.copyfile(path, sqlite_url.removeprefix("sqlite:///"))
    return Database(sqlite_url, migrate=False), demo


def _fresh_db(url: str, tmp_path) -> tuple[Database, dict]:
    db = Database(url)
    return db, seed_demo(db, tmp_path / "demo-keys.json")


@pytest.fixture
def api(sqlite_url, sqlite_demo_template, tmp_path, monkeypatch):
    db, demo = _sqlite_db(sqlite_url, sqlite_demo_template)
    yield from _run(db, demo, tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def pg_demo_template(pg_server, tmp_path_factory):
    """A migrated, seeded PostgreSQL database that each test clones (CREATE DATABASE … TEMPLATE)."""
    name = f"api_template_{uuid.uuid4().hex[:12]}"
    db = Database(pg_server.create_database(name))
    demo = seed_demo(db, tmp_path_factory.mktemp("api-pg-template") / "demo-keys.json")
    db.dispose()  # a template must have no connections when it is cloned
    yield name, demo
    pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api_any(request, sqlite_demo_template, tmp_path, monkeypatch):
    """`api` on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db, demo = _sqlite_db(request.getfixturevalue("sqlite_url"), sqlite_demo_template)
        yield from _run(db, demo, tmp_path, monkeypatch)
        return
    server = request.getfixturevalue("pg_server")
    template, demo = request.getfixturevalue("pg_demo_template")
    name = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    try:
        yield from _run(Database(server.url_for(name), migrate=False), demo, tmp_path, monkeypatch)
    finally:
        server.drop_database(name)


@pytest.fixture
def platform_token(monkeypatch):
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", PLATFORM_TOKEN)
    get_settings.cache_clear()
    yield PLATFORM_TOKEN
    get_settings.cache_clear()


@pytest.fixture
def no_platform_token(monkeypatch):
    monkeypatch.delenv("JUHE_PLATFORM_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def logs():
    """Capture structlog events: tests can assert on them, and an unhandled error is not
    rendered as a rich traceback with locals (seconds per error)."""
    with structlog.testing.capture_logs() as captured:
        yield captured
