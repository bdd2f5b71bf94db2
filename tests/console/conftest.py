"""Fixtures for the console.

console    the app on a copy of a seeded SQLite database (the demo's two merchants) with a console
           user per role of merchant A and the platform operator, behind a TestClient; no channels
           (`live` mode with none configured). `console.login(role)` logs a fresh client in.
"""

from __future__ import annotations

import itertools
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import structlog.testing
from fastapi.testclient import TestClient

from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.console.users import add_user
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.demo import seed_demo
from juhe.payments.models import Payment
from juhe.recon.models import ReconCase, ReconRun

PASSWORD = "correct horse 1"
ROLES = ("admin", "finance", "it", "business", "risk")
_run_days = itertools.count()  # one run per channel and date


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@dataclass
class Console:
    db: Database
    app: object
    merchant_a: uuid.UUID
    merchant_b: uuid.UUID
    csrf_of = staticmethod(csrf_of)

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver", follow_redirects=False)

    def login(self, role: str, password: str = PASSWORD) -> TestClient:
        client = self.client()
        page = client.get("/console/login")
        r = client.post("/console/login", data={"login": f"{role}@a", "password": password, "csrf_token": csrf_of(page.text)})
        assert r.status_code == 303, r.text
        return client

    def payment(self, merchant: uuid.UUID, amount_minor: int = 1288, status: str = "succeeded", subject: str = "Green tea") -> uuid.UUID:
        now = utcnow()
        with self.db.session() as session, session.begin():
            p = Payment(merchant_id=merchant, idempotency_key=uuid.uuid4().hex, request_hash="h", amount_minor=amount_minor,
                        currency="CNY", scenario="qr", subject=subject, status=status, channel="alipay", refunded_minor=0,
                        fee_minor=0, channel_fee_minor=0, expires_at=now + timedelta(minutes=15), poll_count=0,
                        paid_at=now if status == "succeeded" else None, created_at=now, updated_at=now)
            session.add(p)
        return p.id


    def recon_case(self, merchant: uuid.UUID | None, ours_minor: int = 10_000, theirs_minor: int = 9_990) -> uuid.UUID:
        """An open amount_mismatch case of an Alipay payment: the channel paid 0.10 less."""
        with self.db.session() as session, session.begin():
            run = ReconRun(channel="alipay", business_date=date(2026, 1, 1) + timedelta(days=next(_run_days)), statement_sha256="0" * 64, statement_lines=1,
                           summary={"counts": {"amount_mismatch": 1}})
            session.add(run)
            session.flush()
            case = ReconCase(merchant_id=merchant, run_id=run.id, channel="alipay", business_date=run.business_date,
                             category="amount_mismatch", reason="amount", kind="payment", order_no=uuid.uuid4().hex[:20],
                             currency="CNY", ours_amount_minor=ours_minor, channel_amount_minor=theirs_minor, status="open",
                             owner="finance")
            session.add(case)
        return case.id


@pytest.fixture(scope="session")
def console_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-template")
    db = Database(f"sqlite:///{folder}/juhe.db")
    demo = seed_demo(db, folder / "demo-keys.json")
    a, b = (uuid.UUID(m["id"]) for m in demo["merchants"])
    with db.session() as session, session.begin():
        for role in ROLES:
            add_user(session, f"{role}@a", f"{role.title()} A", role, PASSWORD, a)
        add_user(session, "admin@b", "Admin B", "admin", PASSWORD, b)
        add_user(session, "operator@a", "Operator", "operator", PASSWORD, None)
    db.dispose()
    return folder / "juhe.db", a, b


@pytest.fixture
def console(tmp_path, console_template, monkeypatch):
    path, a, b = console_template
    shutil.copyfile(path, tmp_path / "juhe.db")
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    get_settings.cache_clear()
    db = Database(f"sqlite:///{tmp_path}/juhe.db", migrate=False)
    app = create_app(db)
    with TestClient(app):  # runs the lifespan once: app.state.db and the payments context
        with structlog.testing.capture_logs():
            yield Console(db, app, a, b)
    db.dispose()
    get_settings.cache_clear()
