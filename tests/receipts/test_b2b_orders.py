"""A B2B order's three flows — the order, its invoice, its payment — link to one another in the
Merkle log by leaf index, and reconcile from the log's records alone (三流一致): `juhe trace order`
shows the chain, and a payment or an invoice that disagrees with the order is found."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from juhe.cli import app as cli
from juhe.config import get_settings
from juhe.trace import ingest
from juhe.trace.models import TraceEntry

BUYER = {"buyer_name": "华为技术有限公司", "buyer_tax_id": "914403001922038216"}
LINES = [{"name": "*电子元件*集成电路", "tax_category_code": "1090512010000000000", "tax_rate_bps": 1300, "total_minor": 11_300_000},
         {"name": "*现代服务*技术服务费", "tax_category_code": "3040201010000000000", "tax_rate_bps": 600, "total_minor": 530_000}]
TOTAL = 11_830_000


def order(env, order_no="PO-2026-0001", **changes) -> dict:
    r = env.client.post("/v1/orders", json={"order_no": order_no, **BUYER, "lines": LINES, **changes}, headers=env.key("business"))
    assert r.status_code == 201, r.text
    return r.json()


def invoiced_and_paid(env, amount_minor=TOTAL) -> tuple[dict, dict, str]:
    placed = order(env)
    invoice = env.client.post(f"/v1/orders/{placed['id']}/invoice", headers=env.key("finance"))
    assert invoice.status_code == 201, invoice.text
    payment = env.paid(amount_minor, subject="PO-2026-0001")
    ingest.ingest(env.db)  # the worker's ingestion: the payment's success becomes a leaf
    settled = env.client.post(f"/v1/orders/{placed['id']}/payment", json={"payment_id": str(payment)}, headers=env.key("business"))
    assert settled.status_code == 200, settled.text
    return settled.json(), invoice.json(), str(payment)


def trace_order(env, order_id: str, monkeypatch):
    monkeypatch.setenv("JUHE_DATABASE_URL", str(env.db.engine.url))
    get_settings.cache_clear()
    return CliRunner().invoke(cli, ["trace", "order", order_id, "--json"])


def test_the_order_its_invoice_and_its_payment_link_and_reconcile(env, tax, monkeypatch):
    settled, invoice, payment = invoiced_and_paid(env)
    assert settled["status"] == "paid" and settled["invoice_id"] == invoice["id"] and settled["payment_id"] == payment
    assert (invoice["buyer_tax_id"], invoice["total_minor"], invoice["tax_minor"]) == (BUYER["buyer_tax_id"], TOTAL, 1_300_000 + 30_000)
    assert [x["tax_rate_bps"] for x in invoice["lines"]] == [1300, 600]
    check = env.client.get(f"/v1/orders/{settled['id']}/reconciliation", headers=env.key("finance")).json()
    assert check["ok"] is True and check["problems"] == []
    assert [(f["kind"], f["event"]) for f in check["flows"]] == [("order", "created"), ("invoice", "blue"), ("payment", "succeeded"),
                                                                 ("order", "paid")]
    shown = trace_order(env, settled["id"], monkeypatch)
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)
    assert result["ok"] and [f["leaf_index"] for f in result["flows"]] == [f["leaf_index"] for f in check["flows"]]
    assert result["flows"][1]["number"] == invoice["number"] and result["flows"][0]["leaf_index"] == settled["leaf_index"]


def test_a_payment_of_another_amount_is_found(env, tax, monkeypatch):
    settled, _, _ = invoiced_and_paid(env, amount_minor=TOTAL - 100)
    check = env.client.get(f"/v1/orders/{settled['id']}/reconciliation", headers=env.key("finance")).json()
    assert check["ok"] is False and check["problems"] == [f"payment {TOTAL - 100} CNY ≠ order total {TOTAL} CNY"]
    shown = trace_order(env, settled["id"], monkeypatch)
    assert shown.exit_code == 1 and json.loads(shown.stdout)["problems"] == check["problems"]


def test_an_invoice_record_edited_in_the_log_is_found(env, tax):
    settled, invoice, _ = invoiced_and_paid(env)
    with env.db.session() as session, session.begin():
        entry = session.query(TraceEntry).filter_by(kind="invoice", object_id=invoice["id"]).one()
        session.execute(update(TraceEntry).where(TraceEntry.id == entry.id).values(
            data=entry.data.replace('"buyer_tax_id":"914403001922038216"', '"buyer_tax_id":"91330100716105852F"')))
    problems = env.client.get(f"/v1/orders/{settled['id']}/reconciliation", headers=env.key("finance")).json()["problems"]
    assert problems[0] == f"leaf {invoice['leaf_index']}: its record does not hash to the leaf (edited)"
    assert "invoice buyer_tax_id '91330100716105852F' ≠ order buyer_tax_id '914403001922038216'" in problems


def test_an_order_not_yet_invoiced_or_paid_says_what_is_missing(env, tax):
    placed = order(env)
    check = env.client.get(f"/v1/orders/{placed['id']}/reconciliation", headers=env.key("finance")).json()
    assert check["problems"] == ["no invoice in the log names this order", "no payment in the log settles this order"]


def test_bad_order_requests_are_refused(env, tax):
    bad = env.client.post("/v1/orders", json={"order_no": "PO-X", **BUYER, "buyer_tax_id": "914403001922038217", "lines": LINES},
                          headers=env.key("business"))
    env.problem(bad, 422, "invalid_credit_code")
    placed = order(env)
    env.problem(env.client.post("/v1/orders", json={"order_no": "PO-2026-0001", **BUYER, "lines": LINES}, headers=env.key("business")),
                409, "order_exists")
    paid = env.paid(TOTAL)
    env.problem(env.client.post(f"/v1/orders/{placed['id']}/payment", json={"payment_id": str(paid)}, headers=env.key("business")),
                409, "order_not_invoiced")
    env.client.post(f"/v1/orders/{placed['id']}/invoice", headers=env.key("finance"))
    env.problem(env.client.post(f"/v1/orders/{placed['id']}/invoice", headers=env.key("finance")), 409, "invoice_already_issued")
    env.problem(env.client.post(f"/v1/orders/{placed['id']}/payment", json={"payment_id": str(paid)}, headers=env.key("business")),
                409, "payment_not_logged_yet")
    pending = env.paid(TOTAL, status="processing")
    env.problem(env.client.post(f"/v1/orders/{placed['id']}/payment", json={"payment_id": str(pending)}, headers=env.key("business")),
                409, "payment_not_succeeded")
    env.problem(env.client.get(f"/v1/orders/{placed['id']}", headers=env.key("business", merchant=1)), 404, "order_not_found")


@pytest.mark.parametrize("env", ["pg_url"], indirect=True)
def test_the_chain_reconciles_on_postgresql(env, tax):
    settled, _, _ = invoiced_and_paid(env)
    assert env.client.get(f"/v1/orders/{settled['id']}/reconciliation", headers=env.key("finance")).json()["ok"] is True
