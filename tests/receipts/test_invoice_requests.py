"""Invoices the payer asks for on the receipt page, and the ones the worker issues by itself:
every payment of a merchant that issues automatically, and a red-letter invoice for a refund of
an invoiced payment."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from juhe.receipts import service as receipts
from juhe.receipts.worker import ReceiptWorker

SHOP = "https://pay.example.test"


def receipt_path(env, payment_id, merchant=0) -> str:
    receipts.issue_due(env.db)
    data = env.client.get("/v1/receipts", params={"payment_id": str(payment_id)}, headers=env.key("finance", merchant)).json()["data"]
    return next(r["url"] for r in data if r["kind"] == "payment").removeprefix(SHOP)


def test_the_payer_asks_for_an_invoice_on_the_receipt_page(env, tax):
    paid = env.paid(8800)
    page = receipt_path(env, paid)
    assert "开具发票 Issue invoice" in env.client.get(page).text
    refused = env.client.post(f"{page}/invoice", data={"buyer_type": "company", "buyer_name": "某公司", "buyer_tax_id": "91330100716105852G"},
                              follow_redirects=False)
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    shown = env.client.get(refused.headers["location"]).text
    assert "check character" in shown and "开具发票 Issue invoice" in shown
    assert env.client.get(f"{page}/invoice.pdf").status_code == 404
    asked = env.client.post(f"{page}/invoice", data={"buyer_type": "company", "buyer_name": "阿里巴巴（中国）有限公司",
                                                     "buyer_tax_id": "91330100716105852f"}, follow_redirects=False)
    assert asked.status_code == 303 and "error" not in asked.headers["location"]
    (invoice,) = env.client.get("/v1/invoices", headers=env.key("finance")).json()["data"]
    assert (invoice["buyer_tax_id"], invoice["requested_by"], invoice["total_minor"]) == ("91330100716105852F", "payer", 8800)
    shown = env.client.get(page).text
    assert invoice["number"] in shown and "开具发票 Issue invoice" not in shown
    xml = etree.fromstring(env.client.get(f"{page}/invoice.xml").content)
    assert xml.findtext("Header/EIid") == invoice["number"]
    assert env.client.get(f"{page}/invoice.pdf").headers["content-type"] == "application/pdf"
    again = env.client.post(f"{page}/invoice", data={"buyer_name": "张三"}, follow_redirects=False)
    assert "error=" in again.headers["location"]  # already issued: still one invoice
    assert len(env.client.get("/v1/invoices", headers=env.key("finance")).json()["data"]) == 1


def test_the_page_offers_no_invoice_when_the_merchant_does_not_invoice(env):
    page = receipt_path(env, env.paid(100, merchant=1), merchant=1)  # the web shop has not set up invoicing
    assert "开具发票" not in env.client.get(page).text
    assert env.client.post(f"{page}/invoice", data={"buyer_name": "张三"}, follow_redirects=False).headers["location"].count("error=") == 1


@pytest.mark.parametrize("env", ["sqlite_url", "pg_url"], indirect=True)
def test_the_worker_invoices_every_payment_and_a_refund_by_a_red_letter_invoice(env, tax):
    _, server, platform = tax
    settings = env.client.get("/v1/invoice-settings", headers=env.key("finance")).json()
    env.client.put("/v1/invoice-settings", json={**settings, "auto_issue": True}, headers=env.key("finance"))
    worker = ReceiptWorker(env.db, "live", platform=platform, clock=iter(range(0, 10_000, 10)).__next__)
    paid = env.paid(20000)
    httpx.put(f"{server.base_url}/sandbox/faults", json={"error_5xx_rate": 1.0})
    assert worker.run_if_due() == 1  # the receipt; the platform is down, so no invoice yet
    assert env.client.get("/v1/invoices", headers=env.key("finance")).json()["data"] == []
    httpx.put(f"{server.base_url}/sandbox/faults", json={"error_5xx_rate": 0.0})
    assert worker.run_if_due() == 1
    (blue,) = env.client.get("/v1/invoices", headers=env.key("finance")).json()["data"]
    assert (blue["buyer_name"], blue["buyer_tax_id"], blue["requested_by"], blue["total_minor"]) == ("个人", None, "auto", 20000)
    refund = env.refunded(paid, 5000)
    assert worker.run_if_due() == 2  # the refund's receipt and its red-letter invoice
    red, _ = env.client.get("/v1/invoices", headers=env.key("finance")).json()["data"]
    assert (red["kind"], red["original_id"], red["refund_id"], red["total_minor"]) == ("red", blue["id"], str(refund), -5000)
    assert worker.run_if_due() == 0


@pytest.mark.parametrize("env", ["sqlite_url", "pg_url"], indirect=True)
def test_the_worker_looks_past_receipts_that_ask_for_no_invoice(env, tax, monkeypatch):
    from juhe.einvoice import auto

    _, _, platform = tax
    monkeypatch.setattr(auto, "SCAN_MAX", 3)
    monkeypatch.setattr(auto, "AUTO_BATCH", 2)
    settings = env.client.get("/v1/invoice-settings", headers=env.key("finance")).json()
    env.client.put("/v1/invoice-settings", json={**settings, "auto_issue": True}, headers=env.key("finance"))
    for n in range(4):
        env.paid(100 + n, merchant=1)  # the web shop does not invoice
    invoiced = [env.paid(1000 + n) for n in range(3)]
    receipts.issue_due(env.db)
    issued = [auto.issue_due(env.db, lambda: platform) for _ in range(5)]
    assert issued == [0, 2, 1, 0, 0]  # 3 receipts looked at a round, at most 2 invoices issued
    data = env.client.get("/v1/invoices", headers=env.key("finance")).json()["data"]
    assert sorted(i["payment_id"] for i in data) == sorted(map(str, invoiced))
