"""Fixtures for webhook tests.

hooks      a fresh SQLite database with merchants A and B (an `it` and a `finance` key each)
           and helpers to add endpoints, enqueue events, run the worker at a chosen `now`
pg_hooks   the same on PostgreSQL
receiver   a merchant's webhook receiver on localhost (uvicorn in a thread): it verifies
           every signature and answers with the statuses a test scripts
client     a TestClient on an app with the webhooks router

Test modules cannot import this file (--import-mode=importlib): helpers hang off the fixtures.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from juhe import merchants
from juhe.api import errors
from juhe.api import webhooks as webhooks_api
from juhe.channels.simkit import ServerThread
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.webhooks import endpoints, enqueue_event, signing
from juhe.webhooks.delivery import deliver_due
from juhe.webhooks.models import ATTEMPTS, DELIVERIES


@dataclass
class Merchant:
    id: uuid.UUID
    keys: dict[str, str]  # role -> API key secret

    def h(self, role: str = "it") -> dict:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool


@dataclass
class Receiver:
    """Answers with `statuses` in order (the last one repeats). Verifies with `secret` at
    unix time `clock` (None: the real clock), so tests that step time can still verify."""

    url: str = ""
    secret: str | None = None
    statuses: list[int] = field(default_factory=lambda: [200])
    clock: float | None = None
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            header = request.headers.get(signing.HEADER, "")
            verified = self.secret is not None and signing.verify(self.secret, header, body, now=self.clock)
            self.received.append(Received(dict(request.headers), body, verified))
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return Response(status_code=status)

        return app

    def at(self, now: datetime) -> Receiver:
        self.clock = now.timestamp()
        return self


@dataclass
class Hooks:
    db: Database
    a: Merchant
    b: Merchant

    def add_endpoint(self, merchant: Merchant, url: str, event_types: list[str] | None = None) -> tuple[uuid.UUID, str]:
        with self.db.session() as session, session.begin():
            endpoint, secret = endpoints.create_endpoint(session, merchant.id, url, event_types or ["*"])
        return endpoint.id, secret

    def disable(self, merchant: Merchant, endpoint_id: uuid.UUID) -> None:
        with self.db.session() as session, session.begin():
            endpoints.disable_endpoint(session, merchant.id, endpoint_id)

    def enqueue(self, merchant: Merchant, type: str = "payment.succeeded", payload: dict | None = None,
                now: datetime | None = None) -> uuid.UUID:
        with self.db.session() as session, session.begin():
            return enqueue_event(session, merchant.id, type, payload or {"amount_minor": 100}, now=now)

    def deliver(self, now: datetime | None = None, limit: int = 200) -> int:
        async def run() -> int:
            async with httpx.AsyncClient() as http:
                return await deliver_due(self.db, http, now=now, limit=limit)

        return asyncio.run(run())

    def redeliver(self, merchant: Merchant, delivery_id: uuid.UUID, now: datetime | None = None) -> None:
        with self.db.session() as session, session.begin():
            endpoints.redeliver(session, merchant.id, delivery_id, now=now)

    def deliveries(self, event_id: uuid.UUID | None = None) -> list:
        query = select(DELIVERIES).order_by(DELIVERIES.c.id)
        if event_id is not None:
            query = query.where(DELIVERIES.c.event_id == event_id)
        with self.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            return conn.execute(query).all()

    def delivery(self, event_id: uuid.UUID):
        (row,) = self.deliveries(event_id)
        return row

    def attempts(self, delivery_id: uuid.UUID) -> list:
        query = select(ATTEMPTS).where(ATTEMPTS.c.delivery_id == delivery_id).order_by(ATTEMPTS.c.attempted_at)
        with self.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
            return conn.execute(query).all()

    @staticmethod
    def now() -> datetime:
        return utcnow()

    @staticmethod
    def later(t: datetime, **delta: float) -> datetime:
        return t + timedelta(**delta)


def make_hooks(url: str, *, migrate: bool = True, tenants: list[Merchant] | None = None) -> Hooks:
    db = Database(url, migrate=migrate)
    if tenants is None:
        with db.session() as session, session.begin():
            tenants = []
            for name in ("Merchant A", "Merchant B"):
                merchant = merchants.create_merchant(session, name, "retail")
                keys = {role: merchants.issue_api_key(session, merchant.id, role, [role])[1] for role in ("it", "finance")}
                tenants.append(Merchant(merchant.id, keys))
    return Hooks(db, *tenants)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> tuple[Path, list[Merchant]]:
    """Migrated and seeded once; each test gets a copy of the file (migrations cost more than the tests)."""
    path = tmp_path_factory.mktemp("template") / "juhe.db"
    template = make_hooks(f"sqlite:///{path}")
    template.db.dispose()  # the last close checkpoints the WAL into the file
    return path, [template.a, template.b]


@pytest.fixture
def hooks(sqlite_url, sqlite_template):
    path, tenants = sqlite_template
    shutil.copyfile(path, make_url(sqlite_url).database)
    h = make_hooks(sqlite_url, migrate=False, tenants=tenants)
    yield h
    h.db.dispose()


@pytest.fixture
def pg_hooks(pg_url):
    h = make_hooks(pg_url)
    yield h
    h.db.dispose()


@pytest.fixture
def receiver():
    r = Receiver()
    with ServerThread(r.app()) as server:
        r.url = f"{server.base_url}/hook"
        yield r


@pytest.fixture
def client(hooks):
    app = FastAPI()
    errors.install(app)
    app.include_router(webhooks_api.router)
    app.state.db = hooks.db
    with TestClient(app) as c:
        yield c
