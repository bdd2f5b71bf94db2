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
from datetime import datetime
from zoneinfo import ZoneInfo
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
BEIJING = ZoneInfo("Asia/Shanghai")
SUPPLIERS = (
    "end_to_end_id,amount,currency,creditor_name,creditor_account,creditor_bank,remittance_info\n"
    "SUP-20261202-1,500.00,CNY,Shanghai Tea Co,6222020200112233445,102290024433,INV-0931 green tea\n"
    "SUP-20261202-2,300.00,CNY,Hangzhou Packaging Ltd,6222020200998877665,102290024433,INV-5520 boxes\n"
)


def wait_until_up(api: httpx.Client) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if api.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the demo API did not come up")


class DemoDay:
    def __init__(self, base_url: str, merchant: dict, sandbox_urls: dict[str, str], pos_gateway_port: int,
                 acquirer_merchant_id: str, platform_token: str):  # fmt: skip
        self.merchant, self.sandbox_urls = merchant, sandbox_urls
        self.platform = {"Authorization": f"Bearer {platform_token}"}
        self.pos_gateway_port, self.acquirer_merchant_id = pos_gateway_port, acquirer_merchant_id
        self.api = httpx.Client(base_url=base_url, timeout=30)
        self.story: list[tuple[str, str]] = []

    @classmethod
    def for_settings(cls, settings: Settings, base_url: str, merchant: dict) -> DemoDay:
        """Against `juhe demo`: sandboxes and the terminal gateway on their configured ports."""
        urls = {code: f"http://127.0.0.1:{sandbox_port(settings, code)}" for code in CHANNELS}
        return cls(base_url, merchant, urls, settings.pos_gateway_port, configured_channel(settings, "pos").merchant_id,
                   settings.platform_token)

    def key(self, role: str, idem: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.merchant['api_keys'][role]}"} | ({"Idempotency-Key": idem} if idem else {})

    def run(self) -> list[tuple[str, str]]:
        self._wait_until_up()
        self.qr_payment()
        self.card_payment()
        self.face_payment()
        self.supplier_batch()
        self.reconcile()
        self.settle()
        self.prove_reserve()
        return self.story

    def _wait_until_up(self) -> None:
        wait_until_up(self.api)

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

    def reconcile(self) -> None:
        """Every channel that moved money today: its statement against our books."""
        for channel in ("alipay", "facepay", "pos", "bank"):
            run = self.api.post("/v1/reconciliations", json={"channel": channel, "date": self.today}, headers=self.platform)
            if run.status_code != 201:
                self._note(f"reconcile {channel}", f"refused: {run.json().get('detail')}")
                continue
            summary = run.json()["summary"]
            counts = ", ".join(f"{category} {sum(c['rows'] for c in per.values())}"
                               for category, per in summary["categories"].items()) or "no lines"
            self._note(f"reconcile {channel} statement", f"{counts}; open cases {summary['open_cases']}")

    def settle(self) -> None:
        """T+0 for the demo, so that today's reconciled money is paid out today (on a working day)."""
        payout = {"name": "Lotus Mart Co., Ltd.", "account": "6222020200556677889", "bank": "102290024433"}
        self.api.put("/v1/settlements/profile", json={"cycle": "T+0", "payout": payout}, headers=self.key("finance"))
        run = self.api.post("/v1/settlements/runs", json={"date": self.today}, headers=self.platform)
        if run.status_code != 200:
            self._note("settlement run (T+0)", f"refused: {run.json().get('detail')}")
            return
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            batches = self.api.get("/v1/settlements", headers=self.key("finance")).json()["data"]
            if all(b["status"] in ("paid", "rejected", "nil", "carried_forward") for b in batches):
                break
            time.sleep(0.5)
        told = ", ".join(f"{b['status']} {Money(b['net_minor'], b['currency'])}" for b in batches) or "nothing due today"
        self._note("settlement run (T+0) and payout by pain.001", told)

    def prove_reserve(self) -> None:
        proof = self.api.post("/v1/settlements/reserve-proofs", json={"date": self.today}, headers=self.platform)
        if proof.status_code != 201:
            self._note("reserve-fund proof (备付金)", f"refused: {proof.json().get('detail')}")
            return
        lines = [f"{c['currency']} {'proven' if c['ok'] else 'MISMATCH'}: bank {Money(c['bank_balance_minor'], c['currency'])}"
                 f", ledger {Money(c['ledger_reserve_minor'], c['currency'])}" for c in proof.json()["currencies"]]
        self._note("reserve-fund proof (备付金) against camt.053", "; ".join(lines))

    @property
    def today(self) -> str:
        return datetime.now(BEIJING).date().isoformat()

    def _settled(self, payment_id: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            payment = self.api.get(f"/v1/payments/{payment_id}", headers=self.key("business")).json()
            if payment["status"] in ("succeeded", "failed", "canceled"):
                risk = payment.get("risk") or {}
                return (f"{payment['status']} via {payment['channel']}, "
                        f"{Money(payment['amount']['amount_minor'], payment['amount']['currency'])}; "
                        f"risk {risk.get('action')} (score {risk.get('score', 0):.3f})")
            time.sleep(0.2)
        return "still processing"

    def _note(self, what: str, outcome: str) -> None:
        self.story.append((what, outcome))
