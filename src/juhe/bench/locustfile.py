"""The clients of `juhe bench load`, run by Locust in a process of its own (Locust's gevent
patches sockets: it must never be imported by Juhe itself).

Each client is a merchant's app: it creates QR payments (the sandbox's payer pays at once), looks
them up, lists recent payments, and refunds part of some that succeeded. `BaselineUser` is the
same clients, same pacing, against the bare INSERT + commit endpoint.

Configured from the environment: JUHE_LOAD_KEYS (JSON list of business API keys),
JUHE_LOAD_CHANNELS (comma-separated QR channels).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid

from locust import FastHttpUser, between, task

KEYS = json.loads(os.environ.get("JUHE_LOAD_KEYS", "[]"))
CHANNELS = itertools.cycle(os.environ.get("JUHE_LOAD_CHANNELS", "alipay,wechatpay,unionpay").split(","))
PACING = between(0.1, 0.5)  # a person at a till, an app's server: not a tight loop
KEPT = 50  # recent payments a client remembers


class MerchantApp(FastHttpUser):
    wait_time = PACING

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {random.choice(KEYS)}"}
        self.recent: list[str] = []
        self.refundable: list[str] = []

    @task(5)
    def create(self) -> None:
        body = {"amount_minor": random.randint(100, 99_900), "currency": "CNY", "scenario": "qr",
                "subject": "Load tea", "preferred_channel": next(CHANNELS)}
        with self.client.post("/v1/payments", json=body, name="create payment", catch_response=True,
                              headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex}) as answer:
            if answer.status_code != 201:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")
                return
            self.recent = [answer.json()["id"], *self.recent][:KEPT]

    @task(4)
    def query(self) -> None:
        if not self.recent:
            return
        payment_id = random.choice(self.recent)
        with self.client.get(f"/v1/payments/{payment_id}", name="get payment", headers=self.headers,
                             catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")
                return
            if answer.json()["status"] == "succeeded" and payment_id not in self.refundable:
                self.refundable.append(payment_id)

    @task(2)
    def list_recent(self) -> None:
        self.client.get("/v1/payments?limit=20", name="list payments", headers=self.headers)

    @task(1)
    def refund(self) -> None:
        if not self.refundable:
            return
        payment_id = self.refundable.pop(0)
        self.recent = [p for p in self.recent if p != payment_id]  # refunded once, partially
        self.client.post(f"/v1/payments/{payment_id}/refunds", json={"amount_minor": 50, "reason": "load test"},
                         name="refund", headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex})


class BaselineUser(FastHttpUser):
    wait_time = PACING

    @task
    def insert(self) -> None:
        self.client.post("/bench/insert", json={"amount_minor": 1288, "currency": "CNY"}, name="baseline insert")
