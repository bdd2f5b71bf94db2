"""A payment through the whole stack gets its receipt, and an automatic invoice, from the worker
alone: the payer's page opens from its link with a proof that verifies against the log's key;
a refund gets its own receipt and a red-letter invoice referencing the original."""

from __future__ import annotations

import time

import httpx
from cryptography.hazmat.primitives import serialization

from juhe.config import get_settings
from juhe.trace import proofs

QR = {"amount_minor": 11300, "currency": "CNY", "scenario": "qr", "subject": "Tea set 茶具", "preferred_channel": "alipay"}
SELLER = {"seller_name": "莲花超市有限公司", "seller_tax_id": "91350100M000100Y43", "item_name": "*日用杂品*日用百货",
          "tax_category_code": "1060512990000000000", "tax_rate_bps": 1300, "auto_issue": True}


def eventually(read, done, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s  # the worker issues receipts and invoices every 5 s
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def test_a_paid_and_refunded_payment_gets_receipts_and_invoices_by_the_worker(stack, monkeypatch):
    monkeypatch.setenv("JUHE_DATA_DIR", str(stack.runtime.settings.data_dir))  # the API signs with the worker's key
    get_settings.cache_clear()
    assert stack.api.put("/v1/invoice-settings", json=SELLER, headers=stack.key("finance")).status_code == 200
    payment = stack.api.post("/v1/payments", json=QR, headers={**stack.key("business"), "Idempotency-Key": "receipt-1"}).json()
    assert stack.pay(payment).status_code == 200
    assert stack.wait_for(payment["id"], {"succeeded"})["status"] == "succeeded"

    def receipts():
        return stack.api.get("/v1/receipts", params={"payment_id": payment["id"]}, headers=stack.key("finance")).json()["data"]

    def invoices():
        return stack.api.get("/v1/invoices", params={"payment_id": payment["id"]}, headers=stack.key("finance")).json()["data"]

    (receipt,) = eventually(receipts, lambda found: len(found) == 1)
    page_url = stack.api.base_url.join(httpx.URL(receipt["url"]).path)
    page = httpx.get(page_url)  # no key: the link is the permission
    assert page.status_code == 200 and "交易凭证" in page.text and "113.00 CNY" in page.text
    document = httpx.get(f"{page_url}/proof.json").json()
    head = stack.api.get("/v1/trace/tree-head", headers=stack.key("finance")).json()
    key = serialization.load_pem_public_key(head["public_key"].encode())
    assert proofs.verify_document(document, key).startswith(f"record {receipt['leaf_index']} is in")

    (blue,) = eventually(invoices, lambda found: len(found) == 1)
    assert (blue["buyer_name"], blue["total_minor"], blue["tax_minor"], blue["requested_by"]) == ("个人", 11300, 1300, "auto")
    refund = stack.api.post(f"/v1/payments/{payment['id']}/refunds", json={"amount_minor": 2260},
                            headers={**stack.key("finance"), "Idempotency-Key": "receipt-refund-1"})
    assert refund.status_code == 201, refund.text
    assert len(eventually(receipts, lambda found: len(found) == 2)) == 2
    red, _ = eventually(invoices, lambda found: len(found) == 2)
    assert (red["kind"], red["original_id"], red["refund_id"], red["total_minor"]) == ("red", blue["id"], refund.json()["id"], -2260)
