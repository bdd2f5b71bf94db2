"""Fixtures of the risk tests: an app on a database with two merchants, a key per role each, and
payments made at a terminal and decided by the engine when they were made."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from juhe import merchants
from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.db.models import load_all_models
from juhe.db.types import utcnow
from juhe.payments.models import Payment, PaymentAttempt
from juhe.risk.chargebacks import DisputeIntake
from juhe.risk.dbstore import bound_session
from juhe.risk.history import facts_of, load_payment
from juhe.risk.reports import reports_of

PLATFORM = {"Authorization": "Bearer plat-reports-0123456789"}
_keys = itertools.count(1)


class World:
    def __init__(self, client: TestClient, db: Database, keys: dict):
        self.client, self.db, self.keys = client, db, keys
        self.platform = PLATFORM
        self.a, self.b = list(keys)

    def h(self, merchant=None, role: str = "risk") -> dict:
        return {"Authorization": f"Bearer {self.keys[merchant or self.a][role]}"}

    @property
    def engine(self):
        return self.client.app.state.payments.risk.engine

    def pay(self, days_ago: float, terminal: str = "T1", merchant=None):
        """A payment at `terminal`, decided by the engine when it was made (its attempt counted then)."""
        at = utcnow() - timedelta(days=days_ago)
        with self.db.session() as session, session.begin():
            payment = Payment(merchant_id=merchant or self.a, idempotency_key=f"k{next(_keys)}", request_hash="h",
                              amount_minor=5_000, currency="CNY", scenario="pos", subject="test",
                              customer_id=f"c{next(_keys)}", status="succeeded", meta={"terminal_id": terminal},
                              risk={"action": "allow", "score": 0.0, "reasons": []}, refunded_minor=0, fee_minor=0,
                              channel_fee_minor=0, poll_count=0, expires_at=at + timedelta(minutes=15), created_at=at,
                              updated_at=at)
            session.add(payment)
            session.flush()
            self.decide(session, payment.id, at, merchant or self.a)
        return payment.id

    def decide(self, session, payment_id, at, merchant=None):
        facts = facts_of(load_payment(session, merchant or self.a, payment_id))
        with bound_session(session):
            return self.engine.decide(facts, at)

    def paid_through(self, channel: str, order_no: str):
        """A payment of ours that the channel knows by `order_no` (its attempt there succeeded)."""
        payment_id = self.pay(0)
        with self.db.session() as session, session.begin():
            session.add(PaymentAttempt(merchant_id=self.a, payment_id=payment_id, channel=channel, order_no=order_no,
                                       status="succeeded"))
        return payment_id

    def file_disputes_twice(self, runner, code: str, channel, day) -> list:
        """The worker's intake reads the channel's disputes of `day` twice: one fraud case filed, one about
        the goods and one of an unknown order counted apart, and nothing filed again. The merchant's reports."""
        intake = DisputeIntake(self.db, self.engine.pipeline.store, {code: channel}, every_s=0)
        first = runner.run(intake.run_if_due(day))
        assert (first.filed, first.replayed, first.not_fraud, len(first.unknown)) == (1, 0, 1, 1)
        again = runner.run(intake.run_if_due(day))
        assert (again.filed, again.replayed) == (0, 1)
        with self.db.reader() as session:
            return reports_of(session, self.a)

    def features_now(self, terminal: str = "T1") -> dict:
        payment_id = self.pay(0, terminal)
        with self.db.reader() as session:
            facts = facts_of(load_payment(session, self.a, payment_id))
            with bound_session(session):
                return self.engine.pipeline.lookup(facts, utcnow())

    def report(self, payment_id, verdict: str = "fraud", headers=None, **body):
        body = {"payment_id": str(payment_id), "verdict": verdict, "reason": "cardholder denies it"} | body
        return self.client.post("/v1/risk/reports", json=body, headers=headers or self.h())


def start_world(url: str, data_dir, monkeypatch):
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", PLATFORM["Authorization"].removeprefix("Bearer "))
    get_settings.cache_clear()
    load_all_models()
    db = Database(url)
    keys = {}
    with db.session() as session, session.begin():
        for name in ("Lotus Mart", "Jade Grocer"):
            merchant = merchants.create_merchant(session, name, "retail")
            keys[merchant.id] = {role: merchants.issue_api_key(session, merchant.id, role, [role])[1]
                                 for role in merchants.ROLES}
    client = TestClient(create_app(db)).__enter__()
    yield World(client, db, keys)
    client.__exit__(None, None, None)
    db.dispose()
    get_settings.cache_clear()


@pytest.fixture
def runner():
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture
def world(sqlite_url, tmp_path, monkeypatch):
    yield from start_world(sqlite_url, tmp_path / "juhe-data", monkeypatch)


@pytest.fixture
def pg_world(pg_url, tmp_path, monkeypatch):
    yield from start_world(pg_url, tmp_path / "juhe-data", monkeypatch)
