"""Fixtures for AML in the product (the pure tests of this folder use none of them).

aml_world     a migrated SQLite database with two merchants (a, b), a key per role each, the watch
              lists of tests/aml/data configured for this process, and helpers that write payments,
              refunds and batch transfers at chosen times
aml_world_any the same on SQLite and on PostgreSQL
aml_api       `aml_world` behind the HTTP app (create_app + the AML router) with a TestClient
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from juhe import merchants
from juhe.aml.watch_lists import configure_watch_lists
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.db.models import load_all_models
from juhe.payments.models import Payment, PaymentAttempt, Refund
from juhe.transfers.models import TransferBatch, TransferItem

DATA = Path(__file__).parent / "data"
LISTS = [DATA / "ofac" / "sdn.csv", DATA / "internal_watchlist.csv"]
PROBLEM = "application/problem+json"
PLATFORM_TOKEN = "plat-aml-0123456789"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing, a Monday
_numbers = itertools.count(1)


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["detail"], body
    return body


@dataclass
class AmlWorld:
    db: Database
    a: uuid.UUID
    b: uuid.UUID
    keys: dict[uuid.UUID, dict[str, str]] = field(default_factory=dict)
    t0 = T0  # test modules cannot import this conftest; they read its constants here
    lists = LISTS

    def payment(self, merchant: uuid.UUID, amount_minor: int, at: datetime, *, scenario: str = "qr",
                status: str = "succeeded", currency: str = "CNY", customer_id: str | None = None,
                channel: str = "alipay", meta: dict | None = None) -> uuid.UUID:
        n = next(_numbers)
        with self.db.session() as session, session.begin():
            payment = Payment(
                merchant_id=merchant, idempotency_key=f"k{n}", request_hash="h", amount_minor=amount_minor,
                currency=currency, scenario=scenario, subject="goods", customer_id=customer_id, status=status,
                channel=channel, refunded_minor=0, fee_minor=0, channel_fee_minor=0, meta=meta,
                expires_at=at + timedelta(minutes=15), poll_count=0, paid_at=at if status == "succeeded" else None,
                created_at=at, updated_at=at,
            )
            session.add(payment)
        return payment.id

    def refund(self, payment_id: uuid.UUID, amount_minor: int, at: datetime, *, status: str = "succeeded") -> uuid.UUID:
        n = next(_numbers)
        with self.db.session() as session, session.begin():
            payment = session.get(Payment, payment_id)
            attempt = PaymentAttempt(merchant_id=payment.merchant_id, payment_id=payment.id, channel=payment.channel,
                                     order_no=f"ORD{n:010d}", status="succeeded", created_at=at, updated_at=at)
            session.add(attempt)
            session.flush()
            refund = Refund(merchant_id=payment.merchant_id, payment_id=payment.id, attempt_id=attempt.id,
                            refund_no=f"RF{n:010d}", idempotency_key=f"r{n}", request_hash="h", amount_minor=amount_minor,
                            currency=payment.currency, status=status, poll_count=0, created_at=at, updated_at=at)
            session.add(refund)
        return refund.id

    def transfers(self, merchant: uuid.UUID, items: list[tuple[int, str]], at: datetime, *,
                  item_status: str = "settled", currency: str = "CNY") -> list[uuid.UUID]:
        """One batch of (amount_minor, creditor_account) lines, sent at `at`."""
        n = next(_numbers)
        with self.db.session() as session, session.begin():
            batch = TransferBatch(merchant_id=merchant, idempotency_key=f"b{n}", request_hash="h", batch_no=f"B{n:010d}",
                                  status="completed", currency=currency, total_minor=sum(a for a, _ in items),
                                  item_count=len(items), document=b"<Document/>", poll_count=0, created_at=at, updated_at=at)
            session.add(batch)
            session.flush()
            rows = [TransferItem(merchant_id=merchant, batch_id=batch.id, line=line, end_to_end_id=f"E{n}-{line}",
                                 amount_minor=amount, currency=currency, creditor_name="Supplier", creditor_account=account,
                                 remittance_info="", execution_date=date(2026, 3, 2), status=item_status, hold_id=uuid.uuid4())
                    for line, (amount, account) in enumerate(items, start=1)]
            session.add_all(rows)
        return [row.id for row in rows]

    def count(self, model, **where) -> int:
        with self.db.reader() as session:
            query = session.query(model)
            for name, value in where.items():
                query = query.filter(getattr(model, name) == value)
            return query.count()

    def h(self, merchant: uuid.UUID, role: str) -> dict:
        return {"Authorization": f"Bearer {self.keys[merchant][role]}"}


def _seed(db: Database) -> AmlWorld:
    keys, made = {}, []
    with db.session() as session, session.begin():
        for name, industry in (("Lotus Mart", "retail"), ("Jade Machinery", "manufacturing")):
            merchant = merchants.create_merchant(session, name, industry)
            keys[merchant.id] = {role: merchants.issue_api_key(session, merchant.id, role, [role])[1]
                                 for role in merchants.ROLES}
            made.append(merchant.id)
    return AmlWorld(db, made[0], made[1], keys)


@pytest.fixture
def aml_lists():
    return configure_watch_lists(LISTS)


@pytest.fixture
def aml_world(sqlite_url, aml_lists):
    load_all_models()
    db = Database(sqlite_url)
    yield _seed(db)
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def aml_world_any(request, aml_lists):
    load_all_models()
    db = Database(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
    yield _seed(db)
    db.dispose()


def aml_app(db: Database):
    from juhe.api.app import create_app

    app = create_app(db)
    return app


@dataclass
class AmlApi:
    world: AmlWorld
    client: TestClient
    platform = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    problem = staticmethod(assert_problem)


@pytest.fixture
def aml_api(aml_world, tmp_path, monkeypatch):
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")  # no sandboxes: these tests are about AML's own contract
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", PLATFORM_TOKEN)
    get_settings.cache_clear()
    with TestClient(aml_app(aml_world.db)) as client:
        yield AmlApi(aml_world, client)
    get_settings.cache_clear()
