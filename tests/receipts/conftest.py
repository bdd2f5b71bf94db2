"""The API on a fresh database seeded with the demo merchants, live mode with no channel (the
payments here are made succeeded in the database, as a channel's notification would), and the
log's key in the test's data dir.

env.paid() / env.refunded() make a succeeded payment or refund with its timeline event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.demo import seed_demo
from juhe.payments.models import Payment, PaymentAttempt, PaymentEvent, Refund
from juhe.trace import heads
from juhe.trace.publisher import key_file

PROBLEM = "application/problem+json"


@dataclass
class Env:
    db: Database
    client: TestClient
    merchants: list[dict]
    counter: list[int] = field(default_factory=lambda: [0])

    def key(self, role: str = "admin", merchant: int = 0) -> dict:
        return {"Authorization": f"Bearer {self.merchants[merchant]['api_keys'][role]}"}

    def merchant_id(self, merchant: int = 0) -> uuid.UUID:
        return uuid.UUID(self.merchants[merchant]["id"])

    def public_key(self):
        return heads.load_or_create_key(key_file(get_settings())).public_key()

    def paid(self, amount_minor: int = 1288, merchant: int = 0, subject: str = "Green tea 绿茶", status: str = "succeeded") -> uuid.UUID:
        self.counter[0] += 1
        n = self.counter[0]
        now = utcnow()
        with self.db.session() as session, session.begin():
            payment = Payment(merchant_id=self.merchant_id(merchant), idempotency_key=f"test-{n}", request_hash="0" * 64,
                              amount_minor=amount_minor, currency="CNY", scenario="qr", subject=subject, status=status,
                              channel="alipay", channel_order_no=f"20261207{n:024d}"[:32], expires_at=now + timedelta(hours=1),
                              paid_at=now if status == "succeeded" else None, ledger_txn_id=uuid.uuid4())
            session.add(payment)
            session.flush()
            session.add(PaymentAttempt(merchant_id=payment.merchant_id, payment_id=payment.id, channel="alipay",
                                       order_no=payment.channel_order_no, status="succeeded" if status == "succeeded" else "pending"))
            session.add(PaymentEvent(merchant_id=payment.merchant_id, payment_id=payment.id, from_status="processing",
                                     to_status=status, cause="channel_notification", at=now))
            return payment.id

    def refunded(self, payment_id: uuid.UUID, amount_minor: int) -> uuid.UUID:
        self.counter[0] += 1
        with self.db.session() as session, session.begin():
            payment = session.get(Payment, payment_id)
            attempt = session.query(PaymentAttempt).filter_by(payment_id=payment_id).one()
            refund = Refund(merchant_id=payment.merchant_id, payment_id=payment_id, attempt_id=attempt.id,
                            refund_no=f"R{self.counter[0]:020d}", idempotency_key=f"refund-{self.counter[0]}",
                            request_hash="0" * 64, amount_minor=amount_minor, currency="CNY", status="succeeded",
                            ledger_txn_id=uuid.uuid4())
            payment.refunded_minor += amount_minor
            session.add(refund)
            session.flush()
            return refund.id

    def problem(self, response, status: int, code: str) -> dict:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].split(";")[0] == PROBLEM
        assert response.json()["code"] == code, response.json()
        return response.json()


@pytest.fixture
def env(request, tmp_path, monkeypatch):
    url = request.getfixturevalue(getattr(request, "param", "sqlite_url"))
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    monkeypatch.setenv("JUHE_PUBLIC_BASE_URL", "https://pay.example.test")
    get_settings.cache_clear()
    db = Database(url)
    demo = seed_demo(db, tmp_path / "demo-keys.json")
    try:
        with TestClient(create_app(db)) as client:
            yield Env(db, client, demo["merchants"])
    finally:
        db.dispose()
        get_settings.cache_clear()


SELLER = {"seller_name": "莲花超市有限公司", "seller_tax_id": "91350100M000100Y43", "item_name": "*日用杂品*日用百货",
          "tax_category_code": "1060512990000000000", "tax_rate_bps": 1300, "auto_issue": False}


@pytest.fixture
def tax(env):
    """A tax-platform sandbox on localhost, the app issuing through it, and the seller set up."""
    from juhe.einvoice import sandbox

    simulator, server, platform = sandbox.start()
    env.client.app.state.tax_platform = platform
    r = env.client.put("/v1/invoice-settings", json=SELLER, headers=env.key("finance"))
    assert r.status_code == 200, r.text
    yield simulator, server, platform
    server.stop()
