"""A running Juhe: API + worker in a uvicorn thread, every channel's sandbox on localhost,
a webhook receiver, and the demo merchants."""

from __future__ import annotations

import html
import uuid
import re
import time
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI, Request

from juhe.api.app import create_app
from juhe.channels.simkit import ServerThread, free_port
from juhe.config import Settings
from juhe.db.engine import Database
from juhe.demo import seed_demo
from juhe.ledger import ensure_account, payable_code, post, transfer
from juhe.runtime import Runtime


@dataclass
class Stack:
    api: httpx.Client
    db: Database
    runtime: Runtime
    merchants: list[dict]
    received: list[tuple[dict, bytes]]
    webhook_url: str

    def key(self, role: str, merchant: int = 0) -> dict:
        return {"Authorization": f"Bearer {self.merchants[merchant]['api_keys'][role]}"}

    def sandbox(self, channel: str):
        return self.runtime.sandboxes[channel]

    def pay(self, payment: dict, outcome: str = "success") -> httpx.Response:
        running = self.sandbox(payment["channel"])
        open_as_browser(payment["next_action"], running.sandbox.adapter_config().base_url)
        return httpx.post(f"{running.server.base_url}/sandbox/pay/{payment['channel_order_no']}", json={"outcome": outcome})

    def wait_for(self, payment_id: str, statuses: set[str], merchant: int = 0, timeout_s: float = 30) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            payment = self.api.get(f"/v1/payments/{payment_id}", headers=self.key("business", merchant)).json()
            if payment["status"] in statuses or time.monotonic() > deadline:
                return payment
            time.sleep(0.05)


def open_as_browser(action: dict | None, gateway: str) -> None:
    """What the payer's browser or wallet does first: some channels create the order only when
    their page is opened (Alipay page/wap pay), their form is submitted (UnionPay front
    gateway) or the wallet app submits the signed order string (Alipay app pay)."""
    if not action:
        return
    if action["type"] == "app" and "order_string" in action["app_params"]:
        httpx.get(f"{gateway}?{action['app_params']['order_string']}")
    elif action["type"] == "redirect":
        httpx.get(action["redirect_url"])
    elif action["type"] == "form":
        target = re.search(r'action="([^"]+)"', action["form_html"]).group(1)
        fields = dict(re.findall(r'name="([^"]+)"\s+value="([^"]*)"', action["form_html"]))
        httpx.post(html.unescape(target), data={k: html.unescape(v) for k, v in fields.items()})


def _receiver(received: list) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request):
        received.append((dict(request.headers), await request.body()))
        return {"ok": True}

    return app


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """Sandbox keys and certificates are made once per session: RSA key generation is slow."""
    return tmp_path_factory.mktemp("juhe-data")


@pytest.fixture
def stack(tmp_path, data_dir, request):
    url = request.getfixturevalue(getattr(request, "param", "sqlite_url"))
    api_port = free_port()
    settings = Settings(
        database_url=url, data_dir=data_dir, sandbox_base_port=0, public_base_url=f"http://127.0.0.1:{api_port}",
        poll_initial_s=0.2, worker_interval_s=0.1,
    )
    db = Database(url)
    seeded = seed_demo(db, tmp_path / "keys.json")
    runtime = Runtime(settings, db, host_sandboxes=True)
    received: list = []
    receiver = ServerThread(_receiver(received)).start()
    server = ServerThread(create_app(db, runtime, with_worker=True), api_port).start()
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        it = {"Authorization": f"Bearer {seeded['merchants'][0]['api_keys']['it']}"}
        hook = api.post("/v1/webhooks/endpoints", json={"url": f"{receiver.base_url}/hook"}, headers=it)
        assert hook.status_code == 201, hook.text
        yield Stack(api, db, runtime, seeded["merchants"], received, f"{receiver.base_url}/hook")
    server.stop()
    receiver.stop()
    for running in runtime.sandboxes.values():
        running.stop()
    db.dispose()


@pytest.fixture
def fund(stack):
    """fund(amount_minor): money on the merchant's balance, as if it had collected it, moved in
    from the bank reserve."""
    return lambda amount_minor, merchant=0: _deposit(stack, amount_minor, merchant)


def _deposit(stack, amount_minor: int, merchant: int) -> None:
    merchant_id = uuid.UUID(stack.merchants[merchant]["id"])
    with stack.db.session() as session, session.begin():
        conn = session.connection()
        payable = ensure_account(conn, payable_code(merchant_id), "CNY", merchant_id=merchant_id, no_overdraft=True)
        reserve = ensure_account(conn, "reserve:bank", "CNY", owner_type="platform")
        post(conn, transfer(f"deposit:{uuid.uuid4()}", reserve, payable, amount_minor, merchant_id=merchant_id))
