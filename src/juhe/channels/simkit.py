"""Shared parts of the channel simulators: orders, fault injection, notification delivery,
bills with planted discrepancies, and serving on localhost.

A simulator plays the channel's side only. Each channel's `sandbox.py` speaks its own wire
protocol on top of these parts; what is common to all of them lives here, once.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from abc import ABC, abstractmethod
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Literal

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, Field

from juhe.http import async_client

NOTIFY_ATTEMPTS_MAX = 8
NOTIFY_TIMEOUT_S = 5.0
TIMEOUT_HANG_S = 15.0  # longer than any adapter's client timeout, so the caller gives up first


class Faults(BaseModel):
    """Fault injection settings; probabilities are fractions 0–1 drawn per request or event."""

    latency_ms: int = Field(0, ge=0, le=60_000)
    timeout_rate: float = Field(0.0, ge=0, le=1)  # request processed, answer never sent in time
    error_5xx_rate: float = Field(0.0, ge=0, le=1)  # request rejected with a 5xx before processing
    decline_rate: float = Field(0.0, ge=0, le=1)  # payer's payment declined (insufficient funds …)
    lost_notify_rate: float = Field(0.0, ge=0, le=1)  # notification never delivered
    duplicate_notify_rate: float = Field(0.0, ge=0, le=1)  # notification delivered twice
    reorder_notify_rate: float = Field(0.0, ge=0, le=1)  # notification held back, arrives late
    bill_discrepancy_rate: float = Field(0.0, ge=0, le=1)  # bill lines altered, dropped or invented
    auto_pay_after_ms: int | None = Field(None, ge=0)  # simulated payer pays by itself after this
    retry_interval_scale: float = Field(0.001, gt=0, le=1)  # real retry schedule × this factor
    seed: int | None = None


class FaultInjector:
    def __init__(self, faults: Faults | None = None):
        self.configure(faults or Faults())

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)

    def happens(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    async def delay(self) -> None:
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)

    def should_fail_5xx(self) -> bool:
        return self.happens(self.faults.error_5xx_rate)

    def should_time_out(self) -> bool:
        return self.happens(self.faults.timeout_rate)

    async def hang(self) -> None:
        await asyncio.sleep(TIMEOUT_HANG_S)


@dataclass
class SimRefund:
    refund_id: str
    amount_minor: int
    state: Literal["pending", "succeeded", "failed"] = "pending"
    channel_refund_id: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    settled_at: datetime | None = None


@dataclass
class SimOrder:
    """One order as the channel keeps it."""

    order_no: str  # the merchant's order number (our payment id)
    amount_minor: int
    currency: str
    subject: str
    notify_url: str
    state: Literal["pending", "succeeded", "closed", "failed"] = "pending"
    channel_txn_id: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    paid_at: datetime | None = None
    payer_id: str = ""
    fee_minor: int = 0
    extra: dict = field(default_factory=dict)  # channel-specific fields (scene, trade type …)
    refunds: dict[str, SimRefund] = field(default_factory=dict)

    @property
    def refunded_minor(self) -> int:
        return sum(r.amount_minor for r in self.refunds.values() if r.state != "failed")


class OrderBook:
    """The simulator's in-memory order store, safe across the server's tasks."""

    def __init__(self, txn_prefix: str):
        self.orders: dict[str, SimOrder] = {}
        self._txn_prefix = txn_prefix
        self._counter = 0
        self._lock = threading.Lock()

    def next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{self._txn_prefix}{datetime.now(timezone.utc):%Y%m%d}{self._counter:012d}"

    def get(self, order_no: str) -> SimOrder | None:
        return self.orders.get(order_no)

    def add(self, order: SimOrder) -> SimOrder:
        order.channel_txn_id = order.channel_txn_id or self.next_id()
        self.orders[order.order_no] = order
        return order

    def of_day(self, business_date: date) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.created_at.date() == business_date]


AckCheck = Callable[[httpx.Response], bool]


class Notifier:
    """Delivers notifications the way channels do: retried on a schedule until acknowledged,
    and, when faults say so, lost, duplicated or delivered out of order."""

    def __init__(self, injector: FaultInjector, retry_schedule_s: list[float], ack_ok: AckCheck):
        self.injector = injector
        self.retry_schedule_s = retry_schedule_s[: NOTIFY_ATTEMPTS_MAX - 1]
        self.ack_ok = ack_ok
        self.delivered: list[tuple[str, int]] = []  # (url, status) of every attempt, for tests
        self._tasks: set[asyncio.Task] = set()
        self._http = async_client(timeout=NOTIFY_TIMEOUT_S, verify=_tls_context())  # one pool: connections are kept between notifications

    def send(self, url: str, build: Callable[[], tuple[dict[str, str], bytes]]) -> None:
        """Schedule delivery; `build` makes headers and body afresh per attempt (new nonce/time)."""
        faults = self.injector.faults
        if self.injector.happens(faults.lost_notify_rate):
            return
        copies = 2 if self.injector.happens(faults.duplicate_notify_rate) else 1
        for _ in range(copies):
            hold_s = 0.0
            if self.injector.happens(faults.reorder_notify_rate):
                hold_s = self.injector.rng.uniform(0.05, 0.5)
            task = asyncio.get_running_loop().create_task(self._deliver(url, build, hold_s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, build: Callable[[], tuple[dict[str, str], bytes]], hold_s: float) -> None:
        if hold_s:
            await asyncio.sleep(hold_s)
        scale = self.injector.faults.retry_interval_scale
        for wait_s in [0.0, *self.retry_schedule_s]:
            await asyncio.sleep(wait_s * scale)
            headers, body = build()
            try:
                response = await self._http.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                self.delivered.append((url, 0))
                continue
            self.delivered.append((url, response.status_code))
            if self.ack_ok(response):
                return

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for all notifications: building one loads the CA bundle, ~15 ms of CPU,
    far more than the notification itself."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class PlantedDiscrepancy:
    kind: Literal["amount", "missing", "phantom", "status"]
    order_no: str


def plant_discrepancies(
    orders: list[SimOrder], injector: FaultInjector, make_phantom: Callable[[], SimOrder]
) -> tuple[list[SimOrder], list[PlantedDiscrepancy]]:
    """Copies of the day's orders with some altered, dropped or invented, and the ground truth."""
    rate = injector.faults.bill_discrepancy_rate
    out: list[SimOrder] = []
    planted: list[PlantedDiscrepancy] = []
    for order in orders:
        if not injector.happens(rate):
            out.append(order)
            continue
        kind = injector.rng.choice(["amount", "missing", "status", "phantom"])
        if kind == "missing":
            planted.append(PlantedDiscrepancy("missing", order.order_no))
            continue
        copy = SimOrder(**{**order.__dict__, "refunds": dict(order.refunds), "extra": dict(order.extra)})
        if kind == "amount":
            copy.amount_minor += injector.rng.choice([-1, 1]) * injector.rng.randint(1, 100)
        elif kind == "status":
            copy.state = "closed" if order.state == "succeeded" else "succeeded"
        out.append(copy)
        if kind == "phantom":
            phantom = make_phantom()
            out.append(phantom)
            planted.append(PlantedDiscrepancy("phantom", phantom.order_no))
        else:
            planted.append(PlantedDiscrepancy(kind, order.order_no))
    return out, planted


def write_rsa_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """Create (once) an RSA-2048 key pair as PEM files: `<name>_private_key.pem`, `<name>_public_key.pem`."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / f"{name}_private_key.pem"
    public_path = directory / f"{name}_public_key.pem"
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        public_path.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return private_path, public_path


_ports_given: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A free port, never the same one twice in this process: a port handed out is free only
    until its server binds it, and servers here start one after another."""
    with _ports_lock:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _ports_given:
                _ports_given.add(port)
                return port


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1 in a background thread (tests, demo, chaos)."""

    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        # Don't wait for requests that a timeout fault is holding open on purpose.
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PayRequest(BaseModel):
    outcome: Literal["success", "decline"] = "success"
    payer_id: str = "sandbox-payer"


class Simulator(ABC):
    """Base of every channel simulator: the order book, faults, notifier, and the control
    endpoints every sandbox shares under `/sandbox/` (not part of the channel's protocol):

    - `POST /sandbox/pay/{order_no}` — the simulated payer pays (or is declined);
    - `GET|PUT /sandbox/faults` — read or change fault injection at run time;
    - `GET /sandbox/orders/{order_no}` — the channel's view of one order, for tests.

    A subclass implements `notify_payment` and `notify_refund` in its channel's own format
    and mounts `control_router()` on its app.
    """

    txn_prefix = "SIM"
    retry_schedule_s: list[float] = [15, 15, 30, 180, 1800, 1800, 1800]

    def __init__(self, faults: Faults | None = None):
        self.injector = FaultInjector(faults)
        self.book = OrderBook(self.txn_prefix)
        self.notifier = Notifier(self.injector, self.retry_schedule_s, self.ack_ok)
        self._auto_pay: set[asyncio.Task] = set()

    def ack_ok(self, response: httpx.Response) -> bool:
        return response.status_code == 200

    @abstractmethod
    def notify_payment(self, order: SimOrder) -> None:
        """Send the channel's payment notification for a paid order."""

    @abstractmethod
    def notify_refund(self, order: SimOrder, refund: SimRefund) -> None:
        """Send the channel's refund notification (channels that have none: do nothing)."""

    def order_created(self, order: SimOrder) -> SimOrder:
        """Book a new order; with `auto_pay_after_ms` set, the simulated payer pays it later."""
        self.book.add(order)
        after_ms = self.injector.faults.auto_pay_after_ms
        if after_ms is not None:
            task = asyncio.get_running_loop().create_task(self._pay_later(order.order_no, after_ms))
            self._auto_pay.add(task)
            task.add_done_callback(self._auto_pay.discard)
        return order

    async def _pay_later(self, order_no: str, after_ms: int) -> None:
        await asyncio.sleep(after_ms / 1000)
        self.pay(order_no, PayRequest())

    def pay(self, order_no: str, request: PayRequest) -> SimOrder | None:
        order = self.book.get(order_no)
        if order is None or order.state != "pending":
            return order
        declined = request.outcome == "decline" or self.injector.happens(self.injector.faults.decline_rate)
        order.state = "failed" if declined else "succeeded"
        order.payer_id = request.payer_id
        order.paid_at = datetime.now(timezone.utc)
        if not declined:
            self.notify_payment(order)
        return order

    def settle_refund(self, order: SimOrder, refund: SimRefund) -> None:
        refund.state = "succeeded"
        refund.settled_at = datetime.now(timezone.utc)
        self.notify_refund(order, refund)

    def faults_on(self, covered: Callable[[str], bool], failure: Callable[[], object]):
        """HTTP middleware that applies latency, 5xx (answered by `failure()`, before
        processing) and timeouts (processed, answer held back) to the protocol paths that
        `covered(path)` selects; the `/sandbox/` control paths are never faulted."""

        async def inject(request, call_next):
            if request.url.path.startswith("/sandbox/") or not covered(request.url.path):
                return await call_next(request)
            await self.injector.delay()
            if self.injector.should_fail_5xx():
                return failure()
            response = await call_next(request)
            if self.injector.should_time_out():
                await self.injector.hang()
            return response

        return inject

    def control_router(self):
        from fastapi import APIRouter, HTTPException

        router = APIRouter(prefix="/sandbox")

        @router.post("/pay/{order_no}")
        async def pay(order_no: str, request: PayRequest | None = None) -> dict:
            order = self.pay(order_no, request or PayRequest())
            if order is None:
                raise HTTPException(404, "no such order")
            return {"order_no": order.order_no, "state": order.state, "channel_txn_id": order.channel_txn_id}

        @router.get("/faults")
        async def get_faults() -> Faults:
            return self.injector.faults

        @router.put("/faults")
        async def put_faults(faults: Faults) -> Faults:
            self.injector.configure(faults)
            return faults

        @router.get("/orders/{order_no}")
        async def get_order(order_no: str) -> dict:
            order = self.book.get(order_no)
            if order is None:
                raise HTTPException(404, "no such order")
            return {
                "order_no": order.order_no,
                "state": order.state,
                "amount_minor": order.amount_minor,
                "currency": order.currency,
                "channel_txn_id": order.channel_txn_id,
                "refunds": {k: {"amount_minor": r.amount_minor, "state": r.state} for k, r in order.refunds.items()},
            }

        return router
