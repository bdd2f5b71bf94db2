"""The demo's live stream: the retailer's sales as they happen, through the public API.

The same planned sales as the back-fill (business.plan_day), sent the way the retailer's
systems and customers send them: `POST /v1/payments` with the business key, the payer paying
at the sandbox's payer endpoint, the integrated till's sealed card, the face device's token,
refunds with `POST /v1/payments/{id}/refunds`, supplier batches with `POST /v1/transfers/batches`.
Nothing here touches the database: the overview moves because the API's own paths moved it.
"""

from __future__ import annotations

import html
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import httpx
import pyotp

from juhe.channels.facepay import faces
from juhe.channels.pos import signing as pos_signing
from juhe.channels.pos.sandbox import STORE_TERMINALS, TEST_CARDS
from juhe.demo_day import wait_until_up
from juhe.money import Money
from juhe.simulation.business import BEIJING, SCENARIOS, Sale, plan_day, supplier_csv
from juhe.simulation.scenarios import MEMBERSHIP, WALLET_OF

PAYER_ACTS = ("store_qr", "web", "app", "fraud", "installment", "bnpl")
FACES = 8  # customers enrolled for face pay
REPORT_EVERY = 10  # sales between progress lines
WAIT_S = 60.0


@dataclass
class StreamTally:
    sales: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    refunds: int = 0
    last: str = ""

    def line(self) -> str:
        statuses = ", ".join(f"{status} {count}" for status, count in sorted(self.by_status.items()))
        return f"live: {self.sales} sales ({statuses}), {self.refunds} refunds; last: {self.last}"


class LiveStream:
    def __init__(self, base_url: str, merchant: dict, sandbox_urls: dict[str, str], card_key_file: Path, *,
                 interval_s: float = 1.0, seed: int = 1, report: Callable[[str], None] = print):  # fmt: skip
        self.api = httpx.Client(base_url=base_url, timeout=30)
        self.keys = merchant["api_keys"]
        self.sandbox_urls, self.card_key_file = sandbox_urls, card_key_file
        self.interval_s, self.seed, self.report = interval_s, seed, report
        self.tally = StreamTally()
        self.stop = threading.Event()
        self.faces: list[tuple[float, ...]] = []
        self.totp: dict[str, str | None] = {}  # customer → authenticator secret (their phone's app)
        self.face_enrolled: set[str] = set()
        self.plans: list[dict] | None = None  # the retailer's installment plans, asked once

    def run(self, limit: int | None = None) -> StreamTally:
        """Sell until stopped (or `limit` sales); today's planned sales in order, then tomorrow's, …"""
        wait_until_up(self.api)
        units = {"store": self._codes("/v1/stores"), "line": self._codes("/v1/business-lines")}
        self._enrol_faces()
        card_key = pos_signing.load_key(self.card_key_file, pos_signing.CARD_KEY_BYTES)
        day = datetime.now(BEIJING).date()
        while not self.stop.is_set():
            for sale in plan_day(day, self.seed).sales:
                if self.stop.is_set() or (limit is not None and self.tally.sales >= limit):
                    return self.tally
                self._sell(sale, units, card_key)
                self.stop.wait(self.interval_s)
            day += timedelta(days=1)
        return self.tally

    def _sell(self, sale: Sale, units: dict, card_key: bytes) -> None:
        key = f"live-{datetime.now(timezone.utc):%Y%m%d%H%M%S%f}-{sale.number}"
        if sale.kind == "b2b":
            headers = self._key("finance", key) | {"Content-Type": "text/csv"}
            answer = self.api.post("/v1/transfers/batches?category_purpose=SUPP", content=supplier_csv(sale).encode(), headers=headers)
            self._note(sale, "supplier batch " + (answer.json().get("status") or answer.json().get("code", "?")))
            return
        if sale.kind == "subscribe":
            return self._subscribe(sale, key)
        if sale.kind == "bnpl" and not self._bnpl_checkout(sale, key):
            return
        if sale.extra.get("qr") == "dynamic" and units["store"].get(sale.store):
            payment = self._scan_till_code(sale, units["store"][sale.store], key)
        else:
            body = {"amount_minor": sale.amount_minor, "currency": "CNY", "scenario": SCENARIOS[sale.kind], "subject": sale.subject,
                    "customer_id": sale.customer, "store_id": units["store"].get(sale.store),
                    "business_line_id": units["line"].get(sale.line), "preferred_channel": sale.channel,
                    "payer": self._payer(sale, card_key)}
            if sale.kind == "installment" and self._installment_plan():
                body["installments"] = {"plan_id": self._installment_plan(), "periods": sale.extra["periods"]}
            if sale.customer:
                self._authenticator(sale.customer)
            payment = self.api.post("/v1/payments", json=body, headers=self._key("business", key)).json()
        if "id" not in payment:
            self._note(sale, f"refused: {payment.get('code')}")
            return
        if payment["status"] == "requires_action":
            payment = self._verify(payment, sale.customer)
        if payment["status"] == "processing" and sale.kind in PAYER_ACTS and sale.outcome != "abandon":
            outcome = "success" if sale.outcome == "pay" else "decline"
            if (request := cashier_request(payment.get("next_action"))) is not None:
                httpx.request(*request[:2], data=request[2])
            httpx.post(f"{self.sandbox_urls[payment['channel']]}/sandbox/pay/{payment['channel_order_no']}", json={"outcome": outcome})
            payment = self._settled(payment["id"])
        self._note(sale, f"{payment['status']} via {payment.get('channel') or '—'}")
        if payment["status"] == "succeeded" and sale.refund_minor:
            refund = self.api.post(f"/v1/payments/{payment['id']}/refunds", json={"amount_minor": sale.refund_minor,
                                   "reason": "customer returned the goods"}, headers=self._key("business", f"{key}-refund"))
            self.tally.refunds += refund.status_code == 201

    def _payer(self, sale: Sale, card_key: bytes) -> dict:
        if sale.kind == "card":
            till = STORE_TERMINALS[sale.number % len(STORE_TERMINALS)]
            card = TEST_CARDS["approve" if sale.outcome == "pay" else "do_not_honour"]
            return {"terminal_id": till, "card_block": pos_signing.seal_card(card_key, card.track2, till)}
        if sale.kind == "face":
            from juhe.channels.facepay.sandbox import DEVICE_ID

            probe = faces.noisy_capture(self.faces[sale.number % len(self.faces)], 0.2, random.Random(sale.key))
            answer = httpx.post(f"{self.sandbox_urls['facepay']}/sandbox/face/tokens", json={
                "device_id": DEVICE_ID, "probe": list(probe), "liveness": 0.98 if sale.outcome == "pay" else 0.2})
            return {"device_id": DEVICE_ID, "face_token": answer.json()["face_token"]}
        payer = {k: v for k, v in sale.extra.items() if k in ("client_ip", "device_id")}
        if sale.kind in ("web", "app", "bnpl") and sale.customer:  # the customer's own phone; a QR stand knows no device
            payer.setdefault("device_id", f"dev-{sale.customer}")
        return payer

    def _scan_till_code(self, sale: Sale, store_id: str, key: str) -> dict:
        """The till shows a dynamic 聚合码 for the order; the payer's wallet opens its landing page and confirms."""
        code = self.api.post(f"/v1/stores/{store_id}/qr-codes", json={"kind": "dynamic", "label": "till", "subject": sale.subject,
                             "amount_minor": sale.amount_minor}, headers=self._key("business", f"{key}-code")).json()
        if "id" not in code:
            return code
        wallet = WALLET_OF[sale.channel].code
        form = {"wallet": wallet, "nonce": key} | ({"openid": f"o-{sale.customer}"} if wallet == "wechat" else {})
        self.api.post(f"/q/{code['url'].rsplit('/', 1)[-1]}", data=form, follow_redirects=False)
        payment_id = self.api.get(f"/v1/qr-codes/{code['id']}", headers=self._key("business")).json().get("payment_id")
        if payment_id is None:
            return {"code": "scan_refused"}
        return self.api.get(f"/v1/payments/{payment_id}", headers=self._key("business")).json()

    def _installment_plan(self) -> str | None:
        """The retailer's installment plan (the back-fill made it); None: its sales are plain QR payments."""
        if self.plans is None:
            self.plans = self.api.get("/v1/installment-plans", headers=self._key("business")).json().get("data") or []
        return self.plans[0]["id"] if self.plans else None

    def _bnpl_checkout(self, sale: Sale, key: str) -> bool:
        """Within the payer's means: True, an ordinary web payment. Beyond them: on the line when offered, else gone."""
        if sale.extra["within_means"]:
            return True
        if not sale.extra["offered"]:
            self._note(sale, "left: beyond means, no BNPL offered")
            return False
        self.api.post("/v1/bnpl/lines", json={"customer_id": sale.customer}, headers=self._key("business", f"{key}-line"))
        order = self.api.post("/v1/bnpl/orders", json={"customer_id": sale.customer, "amount_minor": sale.amount_minor,
                              "subject": sale.subject, "installments": sale.extra["installments"]},
                              headers=self._key("business", f"{key}-order")).json()
        if "id" not in order:
            self._note(sale, f"refused: {order.get('code')}")
            return False
        shipped = self.api.post(f"/v1/bnpl/orders/{order['id']}/capture", json={}, headers=self._key("business", f"{key}-ship")).json()
        self._note(sale, f"{shipped['status']} on BNPL" if "id" in shipped else f"refused: {shipped.get('code')}")
        return False

    def _subscribe(self, sale: Sale, key: str) -> None:
        """The payer signs an Alipay agreement in the wallet and joins the membership."""
        agreement = httpx.post(f"{self.sandbox_urls['alipay']}/sandbox/agreements").json()["agreement_no"]
        mandate = self.api.post("/v1/billing/mandates", json={"customer_id": sale.customer, "channel": "alipay",
                                "agreement_no": agreement}, headers=self._key("business", f"{key}-mandate")).json()
        sub = self.api.post("/v1/billing/subscriptions", json={"customer_id": sale.customer, "plan": MEMBERSHIP[1],
                            "mandate_id": mandate.get("id")}, headers=self._key("business", f"{key}-sub")).json()
        self._note(sale, f"{sub.get('status') or 'refused: ' + str(sub.get('code'))} membership")

    def _authenticator(self, customer: str) -> None:
        """A customer's first purchase: their authenticator app is enrolled, as the shop's app does."""
        if customer not in self.totp:
            answer = self.api.post("/v1/customers/authenticator", json={"customer_id": customer}, headers=self._key("business"))
            self.totp[customer] = answer.json().get("secret") if answer.status_code == 201 else None

    def _verify(self, payment: dict, customer: str | None) -> dict:
        """The payer answers a step-up: the authenticator's code, and their face at the device when asked."""
        methods = (payment.get("next_action") or {}).get("methods") or []
        secret = self.totp.get(customer) if customer else None
        if not secret:
            return payment
        answer = {"otp": pyotp.TOTP(secret).now()}
        if "face" in methods:
            answer["face_token"] = self._own_face(customer)
        verified = self.api.post(f"/v1/payments/{payment['id']}/verification", json=answer, headers=self._key("business"))
        return verified.json() if verified.status_code == 200 else payment

    def _own_face(self, customer: str) -> str:
        from juhe.channels.facepay.device import FaceDevice

        base = self.sandbox_urls["facepay"]
        template = faces.synthetic_template(random.Random(customer))
        if customer not in self.face_enrolled:
            httpx.post(f"{base}/sandbox/enroll", json={"user_id": customer, "template": list(template)}).raise_for_status()
            self.face_enrolled.add(customer)
        return FaceDevice(base, "FPD-0001", seed=len(self.face_enrolled)).capture(template)

    def _enrol_faces(self) -> None:
        rng = random.Random(self.seed)
        for number in range(FACES):
            template = faces.synthetic_template(rng)
            httpx.post(f"{self.sandbox_urls['facepay']}/sandbox/enroll", json={
                "user_id": f"live-customer-{number}", "template": list(template), "daily_limit_minor": 50_000_00}).raise_for_status()
            self.faces.append(template)

    def _codes(self, path: str) -> dict[str, str]:
        return {row["code"]: row["id"] for row in self.api.get(path, headers=self._key("finance")).json()["data"]}

    def _settled(self, payment_id: str) -> dict:
        deadline = time.monotonic() + WAIT_S
        while True:
            payment = self.api.get(f"/v1/payments/{payment_id}", headers=self._key("business")).json()
            if payment["status"] in ("succeeded", "failed", "canceled") or time.monotonic() > deadline:
                return payment
            time.sleep(0.1)

    def _note(self, sale: Sale, outcome: str) -> None:
        self.tally.sales += 1
        status = outcome.split(" ")[0]
        self.tally.by_status[status] = self.tally.by_status.get(status, 0) + 1
        self.tally.last = f"{Money(sale.amount_minor, 'CNY')} {sale.kind} {outcome}"
        if self.tally.sales % REPORT_EVERY == 0:
            self.report(self.tally.line())

    def _key(self, role: str, idem: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.keys[role]}"} | ({"Idempotency-Key": idem} if idem else {})



def cashier_request(action: dict | None) -> tuple[str, str, dict | None] | None:
    """What the payer's browser does first where the channel makes the order only when its cashier
    page is opened (Alipay wap pay) or its form submitted (UnionPay's front gateway): (method, url, form)."""
    if action and action.get("type") == "redirect":
        return "GET", action["redirect_url"], None
    if action and action.get("type") == "form":
        target = re.search(r'action="([^"]+)"', action["form_html"]).group(1)
        fields = dict(re.findall(r'name="([^"]+)"\s+value="([^"]*)"', action["form_html"]))
        return "POST", html.unescape(target), {k: html.unescape(v) for k, v in fields.items()}
    return None


def for_settings(settings, base_url: str, merchant: dict, interval_s: float, report: Callable[[str], None]) -> LiveStream:
    """Against `juhe demo`: its sandboxes on their configured ports, the till's card key in the data dir."""
    from juhe.channels.registry import CHANNELS
    from juhe.runtime import sandbox_port

    urls = {code: f"http://127.0.0.1:{sandbox_port(settings, code)}" for code in CHANNELS}
    return LiveStream(base_url, merchant, urls, settings.data_dir / "sandbox" / "pos" / "pos_card_key.hex",
                      interval_s=interval_s, report=report)
