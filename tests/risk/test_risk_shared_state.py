"""Two API processes (two apps, each with its own engine, connection pool and sandboxes) against
one PostgreSQL: velocity adds up across them, and an activation in one reaches the other within
a few seconds."""

from __future__ import annotations

import time

import httpx
import pytest

from juhe.api.app import create_app
from juhe.channels.simkit import ServerThread, free_port
from juhe.config import Settings, get_settings
from juhe.db.engine import Database
from juhe.demo import seed_demo
from juhe.risk.activation import REFRESH_INTERVAL_S
from juhe.risk.generator import generate
from juhe.risk.registry import RiskRegistry
from juhe.risk.replay import feature_frame
from juhe.risk.train import TrainingOptions, train_model
from juhe.runtime import Runtime

PLATFORM_TOKEN = "plat-shared-0123456789"
PLATFORM = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
QR = {"amount_minor": 1288, "currency": "CNY", "scenario": "qr", "subject": "Green tea"}


@pytest.fixture
def two_processes(pg_url, tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", PLATFORM_TOKEN)
    get_settings.cache_clear()
    seeded = seed_demo(Database(pg_url), tmp_path / "keys.json")
    servers, databases, runtimes = [], [], []
    for _ in range(2):
        port = free_port()
        settings = Settings(database_url=pg_url, data_dir=data_dir, sandbox_base_port=0,
                            public_base_url=f"http://127.0.0.1:{port}", platform_token=PLATFORM_TOKEN)
        db = Database(pg_url)
        runtime = Runtime(settings, db, host_sandboxes=True)
        servers.append(ServerThread(create_app(db, runtime), port).start())
        databases.append(db)
        runtimes.append(runtime)
    clients = [httpx.Client(base_url=server.base_url, timeout=30) for server in servers]
    yield clients, seeded["merchants"][0]["api_keys"], data_dir / "risk"
    for client, server, runtime, db in zip(clients, servers, runtimes, databases):
        client.close()
        server.stop()
        for running in runtime.sandboxes.values():
            running.stop()
        db.dispose()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("juhe-shared")


def test_a_velocity_rule_fires_on_the_count_of_both_processes(two_processes):
    clients, keys, _ = two_processes
    business = {"Authorization": f"Bearer {keys['business']}"}
    statuses = []
    for n in range(6):  # one card, one customer at a time: half to each process
        payer = {"card_token": "tok-shared", "device_id": f"dev-{n}", "client_ip": "101.80.1.2"}
        answer = clients[n % 2].post("/v1/payments", json=QR | {"customer_id": f"c{n}", "payer": payer},
                                     headers=business | {"Idempotency-Key": f"shared-{n}"})
        assert answer.status_code == 201, answer.text
        statuses.append((answer.json()["status"], answer.json().get("failure_code")))
    # Rule R4 (5 payments on one card within a minute): each process saw only three of them.
    assert [s for s, _ in statuses[:4]] == ["processing"] * 4  # on to the channel: a QR code to scan
    assert statuses[4:] == [("failed", "risk_blocked")] * 2


def test_an_activation_in_one_process_is_followed_by_the_other(two_processes):
    clients, keys, folder = two_processes
    risk = {"Authorization": f"Bearer {keys['risk']}"}
    body = {"amount_minor": 50_000, "currency": "CNY", "customer_id": "c1", "payer": {"card_token": "tok-a"}}
    assert clients[1].post("/v1/risk/decisions", json=body, headers=risk).json()["action"] == "allow"
    rules = {"version": "shared-1", "rules": [{"id": "BIG", "then": "block",
                                               "if": {"feature": "amount_minor", "op": ">=", "value": 50_000}}]}
    assert clients[0].post("/v1/risk/rules", json=rules, headers=PLATFORM).status_code == 200
    assert clients[0].post("/v1/risk/decisions", json=body, headers=risk).json()["action"] == "block"
    seen = _followed(clients[1], body, risk, lambda d: d["rules_version"] == "shared-1")
    assert seen["action"] == "block" and seen["after_s"] <= REFRESH_INTERVAL_S + 1.5

    history = generate(120, 5, 3, warmup_days=2, fraud_episodes_per_payer=0.5)
    model = train_model(feature_frame(history, warmup_days=2), TrainingOptions(rounds=20, min_data_in_leaf=10))
    RiskRegistry(folder).save_model(model)
    assert clients[1].post(f"/v1/risk/models/{model.version}/activate", json={}, headers=PLATFORM).status_code == 200
    seen = _followed(clients[0], body, risk, lambda d: d["model_version"] == model.version)
    assert seen["after_s"] <= REFRESH_INTERVAL_S + 1.5


def _followed(client: httpx.Client, body: dict, headers: dict, done) -> dict:
    started = time.monotonic()
    while True:
        decision = client.post("/v1/risk/decisions", json=body, headers=headers).json()
        if done(decision) or time.monotonic() - started > 10:
            return decision | {"after_s": time.monotonic() - started}
        time.sleep(0.1)
