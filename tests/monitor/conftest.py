"""Fixtures for fund monitoring.

world      a migrated SQLite database with two merchants (a, b), a key per role each, channel
           contracts, and helpers that write payments and batch transfers at chosen times
world_any  the same on SQLite and on PostgreSQL
world_pg   the same on PostgreSQL only (concurrency)
monitor_api  `world` behind the HTTP app (create_app + the monitor router) with a TestClient
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
import structlog.testing
from fastapi.testclient import TestClient

from juhe import merchants
from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.db.models import load_all_models
from juhe.db.types import utcnow
from juhe.monitor import evaluate_rules, rule_store
from juhe.payments.models import MerchantChannel, Payment
from juhe.transfers.models import TransferBatch, TransferItem

PROBLEM = "application/problem+json"
PLATFORM_TOKEN = "plat-monitor-0123456789"
CONTRACTS = {"alipay": (60, 38), "wechatpay": (60, 38), "unionpay": (50, 30)}
_numbers = itertools.count(1)


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["detail"]
    return body


@dataclass
class World:
    db: Database
    a: uuid.UUID
    b: uuid.UUID
    keys: dict[uuid.UUID, dict[str, str]] = field(default_factory=dict)
    now: datetime = field(default_factory=utcnow)  # payments are placed relative to this
    problem = staticmethod(assert_problem)

    @contextmanager
    def conn(self):
        with self.db.session() as session, session.begin():
            yield session.connection()

    def payment(self, merchant: uuid.UUID, amount_minor: int, *, status: str = "succeeded", channel: str | None = "alipay",
                currency: str = "CNY", minutes_ago: float = 1, customer_id: str | None = None,
                failure_code: str | None = None, fee_minor: int = 0, channel_fee_minor: int = 0) -> uuid.UUID:
        at = self.now - timedelta(minutes=minutes_ago)
        n = next(_numbers)
        with self.db.session() as session, session.begin():
            payment = Payment(
                merchant_id=merchant, idempotency_key=f"k{n}", request_hash="h", amount_minor=amount_minor, currency=currency,
                scenario="qr", subject="test", customer_id=customer_id, status=status, channel=channel,
                failure_code=failure_code, refunded_minor=0, fee_minor=fee_minor, channel_fee_minor=channel_fee_minor,
                expires_at=at + timedelta(minutes=15), poll_count=0, paid_at=at if status == "succeeded" else None,
                created_at=at, updated_at=at,
            )
            session.add(payment)
        return payment.id

    def transfers(self, merchant: uuid.UUID, items: list[tuple[int, str]], *, minutes_ago: float = 1,
                  currency: str = "CNY", item_status: str = "pending") -> uuid.UUID:
        """One batch of (amount_minor, creditor_account) items, created `minutes_ago`."""
        at = self.now - timedelta(minutes=minutes_ago)
        n = next(_numbers)
        with self.db.session() as session, session.begin():
            batch = TransferBatch(
                merchant_id=merchant, idempotency_key=f"b{n}", request_hash="h", batch_no=f"BATCH{n:010d}",
                status="submitted", currency=currency, total_minor=sum(a for a, _ in items), item_count=len(items),
                document=b"<Document/>", poll_count=0, created_at=at, updated_at=at,
            )
            session.add(batch)
            session.flush()
            session.add_all(TransferItem(
                merchant_id=merchant, batch_id=batch.id, line=line, end_to_end_id=f"E2E{n}-{line}", amount_minor=amount,
                currency=currency, creditor_name="Supplier", creditor_account=account, remittance_info="",
                execution_date=date(2026, 11, 26), status=item_status, hold_id=uuid.uuid4(),
            ) for line, (amount, account) in enumerate(items, start=1))
        return batch.id

    def rule(self, kind: str, params: dict, merchant: uuid.UUID | None = None, **options):
        with self.conn() as conn:
            return rule_store.create_rule(conn, merchant, kind, params, **options)

    def evaluate(self, at: datetime | None = None):
        with self.conn() as conn:
            return evaluate_rules(conn, at or self.now)

    def h(self, merchant: uuid.UUID, role: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[merchant][role]}"}


def _seed(db: Database) -> tuple[uuid.UUID, uuid.UUID, dict]:
    keys = {}
    with db.session() as session, session.begin():
        made = []
        for name, industry in (("Lotus Mart", "retail"), ("Silk Road Online", "ecommerce")):
            merchant = merchants.create_merchant(session, name, industry)
            keys[merchant.id] = {role: merchants.issue_api_key(session, merchant.id, role, [role])[1] for role in merchants.ROLES}
            session.add_all(MerchantChannel(merchant_id=merchant.id, channel=channel, enabled=True, priority=100,
                                            merchant_fee_bps=mf, channel_fee_bps=cf) for channel, (mf, cf) in CONTRACTS.items())
            made.append(merchant.id)
    return made[0], made[1], keys


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    load_all_models()
    folder = tmp_path_factory.mktemp("monitor-template")
    db = Database(f"sqlite:///{folder}/juhe.db")
    seeded = _seed(db)
    db.dispose()
    return folder / "juhe.db", seeded


def _sqlite_world(sqlite_url: str, template) -> World:
    path, (a, b, keys) = template
    shutil.copyfile(path, sqlite_url.removeprefix("sqlite:///"))
    return World(Database(sqlite_url, migrate=False), a, b, keys)


@pytest.fixture
def world(sqlite_url, sqlite_template):
    w = _sqlite_world(sqlite_url, sqlite_template)
    yield w
    w.db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world_any(request, sqlite_template):
    if request.param == "sqlite":
        w = _sqlite_world(request.getfixturevalue("sqlite_url"), sqlite_template)
    else:
        db = Database(request.getfixturevalue("pg_url"))
        w = World(db, *_seed(db))
    yield w
    w.db.dispose()


@pytest.fixture
def world_pg(pg_url):
    db = Database(pg_url)
    w = World(db, *_seed(db))
    yield w
    db.dispose()


def monitor_app(db: Database):
    app = create_app(db)
    return app


@pytest.fixture
def app_settings(tmp_path, monkeypatch):
    # No channel sandboxes: these tests are about the monitor's own contract.
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", PLATFORM_TOKEN)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@dataclass
class MonitorApi:
    world: World
    client: TestClient
    platform = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    problem = staticmethod(assert_problem)


@pytest.fixture
def monitor_api(world, app_settings):
    with TestClient(monitor_app(world.db)) as client:
        yield MonitorApi(world, client)


@pytest.fixture
def live_app(world, app_settings):
    """The app for a uvicorn server (tests/monitor/test_monitor_stream.py)."""
    return monitor_app(world.db)


@pytest.fixture(autouse=True)
def logs():
    with structlog.testing.capture_logs() as captured:
        yield captured
