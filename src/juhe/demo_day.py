"""A demo business day, played against a running `juhe demo` as its users would play it.

Lotus Mart's customers pay: one scans a QR code, one taps a card at the Shanghai store's
terminal (ISO 8583 through Juhe's terminal gateway), one pays by face at the checkout. Then
finance pays two suppliers with a B2B batch through the bank. Everything goes through the
public API, the terminal gateway and the sandboxes: nothing here writes to the database.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx

from juhe.channels.facepay import faces
from juhe.channels.facepay.device import FaceDevice
from juhe.channels.pos import signing
from juhe.channels.pos.sandbox import TEST_CARDS
from juhe.channels.pos.terminal import TerminalSimulator
from juhe.config import Settings
from juhe.money import Money
from juhe.channels.registry import CHANNELS
from juhe.runtime import configured_channel, sandbox_port

WAIT_S = 60.0
SUPPLIERS = (
    "end_to_end_id,amount,currency,creditor_name,creditor_account,creditor_bank,remittance_info\n"
    "SUP-20261202-1,500.00,CNY,Shanghai Tea Co,6222020200112233445,102290024433,INV-0931 green tea\n"
    "SUP-20261202-2,300.00,CNY,Hangzhou Packaging Ltd,6222020200998877665,102290024433,INV-5520 boxes\n"
)


class DemoDay:
    def __init__(self, base_url: str, merchant: dict, sandbox_urls: dict[str, str], pos_gateway_port: int,
                 acquirer_merchant_id: str):  # fmt: skip
        self.merchant, self.sandbox_urls = merchant, sandbox_urls
        self.pos_gateway_port, self.acquirer_merchant_id = pos_gateway_port, acquirer_merchant_id
        self.api = httpx.Client(base_url=base_url, timeout=30)
        self.story: list[tuple[str, str]] = []

    @classmethod
    def for_settings(cls, settings: Settings, base_url: str, merchant: dict) -> DemoDay:
        """Against `juhe demo`: sandboxes and the terminal gateway on their configured ports."""
        urls = {code: f"http://127.0.0.1:{sandbox_port(settings, code)}" for code in CHANNELS}
        return cls(base_url, merchant, urls, settings.pos_gateway_port, configured_channel(settings, "pos").merchant_id)

    def key(self, role: str, idem: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.merchant['api_keys'][role]}"} | ({"Idempotency-Key": idem} if idem else {})

    def run(self) -> list[tuple[str, str]]:
        self._wait_until_up()
        self.qr_payment()
        self.card_payment()
        self.face_payment()
        self.supplier_batch()
        return self.story

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                if self.api.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the demo API did not come up")

    def qr_payment(self) -> None:
        body = {"amount_minor": 1288_00, "currency": "CNY", "scenario": "qr", "subject": "Rice cooker",
                "preferred_channel": "alipay"}
        payment = self.api.post("/v1/payments", json=body, headers=self.key("business", "demo-day-qr")).json()
        httpx.post(f"{self.sandbox_urls[payment['channel']]}/sandbox/pay/{payment['channel_order_no']}", json={"outcome": "success"})
        self._note("QR payment at the web shop", self._settled(payment["id"]))

    def card_payment(self) -> None:
        terminal = self.merchant["terminals"][-1]
        till = TerminalSimulator("127.0.0.1", self.pos_gateway_port, terminal["terminal_id"], self.acquirer_merchant_id,
                                 signing.load_key(Path(terminal["mac_key_file"]), signing.MAC_KEY_BYTES), timeout_s=15)
        receipt = asyncio.run(till.purchase(888_00, TEST_CARDS["approve"].track2))
        self._note(f"card at terminal {terminal['terminal_id']} ({terminal['store']})",
                   f"{'APPROVED' if receipt.approved else 'DECLINED'} {receipt.code}, card {receipt.card}, RRN {receipt.rrn}")

    def face_payment(self) -> None:
        base = self.sandbox_urls["facepay"]
        template = faces.synthetic_template(random.Random(2026))
        httpx.post(f"{base}/sandbox/enroll", json={"user_id": "demo-customer", "template": list(template)})
        token = FaceDevice(base, "FPD-0001", seed=1).capture(template)
        body = {"amount_minor": 66_00, "currency": "CNY", "scenario": "face", "subject": "Lunch box",
                "payer": {"device_id": "FPD-0001", "face_token": token}}
        payment = self.api.post("/v1/payments", json=body, headers=self.key("business", "demo-day-face")).json()
        self._note("face pay at the checkout", self._settled(payment["id"]))

    def supplier_batch(self) -> None:
        headers = self.key("finance", "demo-day-suppliers") | {"Content-Type": "text/csv"}
        batch = self.api.post("/v1/transfers/batches?category_purpose=SUPP", content=SUPPLIERS.encode(), headers=headers).json()
        if "id" not in batch:
            self._note("B2B batch to the bank", f"refused: {batch.get('detail')}")
            return
        deadline = time.monotonic() + WAIT_S
        while batch["status"] == "submitted" and time.monotonic() < deadline:
            time.sleep(0.5)
            batch = self.api.get(f"/v1/transfers/batches/{batch['id']}", headers=self.key("finance")).json()
        items = ", ".join(f"{i['end_to_end_id']} {i['status']}" for i in batch["items"])
        self._note("B2B batch to the bank (pain.001)", f"{batch['status']}: {items}")

    def _settled(self, payment_id: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            payment = self.api.get(f"/v1/payments/{payment_id}", headers=self.key("business")).json()
            if payment["status"] in ("succeeded", "failed", "canceled"):
                return f"{payment['status']} via {payment['channel']}, {Money(payment['amount']['amount_minor'], payment['amount']['currency'])}"
            time.sleep(0.2)
        return "still processing"

    def _note(self, what: str, outcome: str) -> None:
        self.story.append((what, outcome))
