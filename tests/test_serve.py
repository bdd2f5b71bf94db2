"""Production layout: several API processes (`juhe serve --workers N`) and a `juhe worker` against
one PostgreSQL, directly or through PgBouncer in transaction pooling."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from juhe.bench.stack import THROWAWAY_POSTGRES, Stack, StackOptions
from juhe.channels.simkit import Faults, free_port
from juhe.cli import app
from juhe.ledger import verify_ledger
from juhe.payments.models import Payment

QR = {"amount_minor": 1288, "currency": "CNY", "scenario": "qr", "subject": "Green tea"}


def _pay_some(stack: Stack, count: int) -> list[str]:
    stack.set_faults(Faults(auto_pay_after_ms=0))
    ids = []
    for i in range(count):
        answer = stack.api.post("/v1/payments", json={**QR, "preferred_channel": ("alipay", "wechatpay")[i % 2]},
                                headers=stack.key("business", idem=f"serve-{i}"))
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    assert stack.receiver.wait_for(
        lambda events: {e.object_id for e in events if e.type == "payment.succeeded"} >= set(ids), timeout_s=60)
    return ids


def test_two_api_processes_through_pgbouncer_complete_payments_and_keep_the_ledger():
    options = StackOptions(database_url=THROWAWAY_POSTGRES, pgbouncer=True, api_processes=2, postgres_fast=True,
                           worker_interval_s=0.05, channels=("alipay", "wechatpay"))
    with Stack(options) as stack:
        assert "pgbouncer=true" in stack.database_url
        ids = _pay_some(stack, 12)
        with stack.db.engine.connect() as conn, conn.begin():
            assert verify_ledger(conn).ok
            statuses = conn.execute(select(Payment.status, func.count()).where(Payment.id.in_(ids))
                                    .group_by(Payment.status)).all()
        assert dict(statuses) == {"succeeded": 12}
        # both API processes served (uvicorn spreads connections), and /metrics sums them
        text = httpx.get(f"{stack.api_url}/metrics", timeout=10).text
        assert 'juhe_http_requests_total{method="POST",route="/v1/payments",status="201"} 12.0' in text


def test_juhe_serve_with_workers_answers_on_one_port(pg_url, tmp_path):
    port = free_port()
    env = {**os.environ, "JUHE_DATABASE_URL": pg_url, "JUHE_DATA_DIR": str(tmp_path), "JUHE_CHANNEL_MODE": "sandbox",
           "JUHE_POS_GATEWAY_PORT": "0", "JUHE_LOG_LEVEL": "warning"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen([sys.executable, "-c", "from juhe.cli import app; app()", "serve", "--workers", "2",
                               "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, ready = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready is not None and ready.json() == {"status": "ready", "database": "postgresql"}, server.poll()
        for _ in range(20):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert (tmp_path / "metrics").is_dir() and any((tmp_path / "metrics").iterdir())
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("args, message", [(["--workers", "0"], "at least 1"), (["--workers", "2"], "needs PostgreSQL")])
def test_serve_refuses_what_cannot_work(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv("JUHE_DATABASE_URL", f"sqlite:///{tmp_path / 'juhe.db'}")
    from juhe.config import get_settings

    get_settings.cache_clear()
    try:
        answer = CliRunner().invoke(app, ["serve", *args])
    finally:
        get_settings.cache_clear()
    assert answer.exit_code != 0 and message in answer.output
