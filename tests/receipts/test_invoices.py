"""E-invoices (数电票) through the tax-platform sandbox: issued for a succeeded payment with a
20-digit number, lines with category, rate, amount and tax, the total in words, as JSON, XML and
PDF, and recorded in the Merkle log; red-letter invoices never above the original; bad requests
answer problem+json and change nothing; a platform that is down leaves nothing issued, and asking
again issues once."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pypdfium2
from lxml import etree
from pypdf import PdfReader
from sqlalchemy import func, select

from juhe.einvoice import platform as tax_platform
from juhe.einvoice.models import Invoice
from juhe.einvoice.tax import line
from juhe.trace import proofs
from juhe.trace.models import TraceEntry

BUYER = {"buyer_name": "华为技术有限公司", "buyer_tax_id": "914403001922038216"}
ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "receipts"  # pages rendered, to look at
ARTEFACTS.mkdir(parents=True, exist_ok=True)


def issue(env, payment_id, body=BUYER, role="business", merchant=0):
    return env.client.post(f"/v1/payments/{payment_id}/invoice", json=body, headers=env.key(role, merchant))


def counts(env) -> tuple[int, int]:
    with env.db.reader() as session:
        return session.scalar(select(func.count()).select_from(Invoice)), session.scalar(select(func.count()).select_from(TraceEntry))


def test_an_invoice_for_a_payment_has_the_shape_of_a_fully_digitalised_e_invoice(env, tax):
    simulator, _, _ = tax
    paid = env.paid(128800)
    r = issue(env, paid)
    assert r.status_code == 201, r.text
    invoice = r.json()
    assert len(invoice["number"]) == 20 and invoice["number"].isdigit() and invoice["number"][2:5] == "312"
    assert (invoice["kind"], invoice["status"], invoice["requested_by"][:8]) == ("blue", "issued", "api_key:")
    assert (invoice["amount_minor"], invoice["tax_minor"], invoice["total_minor"]) == (113982, 14818, 128800)
    assert invoice["total_in_words"] == "壹仟贰佰捌拾捌元整"
    assert invoice["lines"] == [{"name": "*日用杂品*日用百货", "tax_category_code": "1060512990000000000", "tax_rate_bps": 1300,
                                 "amount_minor": 113982, "tax_minor": 14818}]
    assert simulator.by_number[invoice["number"]]["request"]["gmfnsrsbh"] == BUYER["buyer_tax_id"]
    assert env.client.get(f"/v1/invoices/{invoice['id']}", headers=env.key("finance")).json() == invoice

    xml = etree.fromstring(env.client.get(f"/v1/invoices/{invoice['id']}.xml", headers=env.key("finance")).content)
    assert xml.findtext("Header/EIid") == invoice["number"] == xml.findtext("TaxSupervisionInfo/InvoiceNumber")
    assert xml.findtext("EInvoiceData/SellerInformation/SellerIdNum") == "91350100M000100Y43"
    assert xml.findtext("EInvoiceData/BuyerInformation/BuyerName") == "华为技术有限公司"
    assert xml.findtext("EInvoiceData/BasicInformation/TotalTax-includedAmount") == "1288.00"
    assert xml.findtext("EInvoiceData/BasicInformation/TotalTax-includedAmountInChinese") == "壹仟贰佰捌拾捌元整"
    assert [(i.findtext("TaxRate"), i.findtext("Amount"), i.findtext("ComTaxAm")) for i in xml.iter("Item")] == [("0.13", "1139.82", "148.18")]

    pdf = env.client.get(f"/v1/invoices/{invoice['id']}.pdf", headers=env.key("finance")).content
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for expected in (invoice["number"], "华为技术有限公司", "914403001922038216", "莲花超市有限公司", "壹仟贰佰捌拾捌元整",
                     "¥1139.82", "13%", "¥148.18", "¥1288.00", "1060512990000000000"):
        assert expected in text, expected
    pypdfium2.PdfDocument(pdf)[0].render(scale=1.5).to_pil().save(ARTEFACTS / "invoice-blue.png")

    proof = env.client.get("/v1/trace/proofs/inclusion", params={"kind": "invoice", "object_id": invoice["id"]},
                           headers=env.key("finance")).json()
    assert proof["leaf_index"] == invoice["leaf_index"]
    assert proofs.verify_document(proof, env.public_key()).startswith("record ")
    assert json.loads(proof["record"])["number"] == invoice["number"]


def test_bad_requests_answer_problems_and_change_nothing(env, tax):
    paid, pending = env.paid(128800), env.paid(500, status="processing")
    before = counts(env)
    env.problem(issue(env, paid, {"buyer_name": "某公司", "buyer_tax_id": "91330100716105852G"}), 422, "invalid_credit_code")
    env.problem(issue(env, paid, {"buyer_name": "某公司", "buyer_tax_id": "ABC"}), 422, "invalid_credit_code")
    env.problem(issue(env, pending), 409, "payment_not_succeeded")
    env.problem(issue(env, paid, role="risk"), 403, "forbidden")
    other = env.paid(800, merchant=1)
    env.problem(issue(env, other), 404, "payment_not_found")
    env.problem(issue(env, paid, {"buyer_name": ""}), 422, "validation_error")
    assert counts(env) == before
    first = issue(env, paid).json()
    after_first = counts(env)
    env.problem(issue(env, paid), 409, "invoice_already_issued")
    red = env.client.post(f"/v1/invoices/{first['id']}/red-letter", json={"amount_minor": 128801}, headers=env.key("finance"))
    env.problem(red, 422, "red_letter_exceeds_original")
    env.problem(env.client.post(f"/v1/invoices/{first['id']}/red-letter", json={"amount_minor": 1}, headers=env.key("business")),
                403, "forbidden")
    env.problem(env.client.get(f"/v1/invoices/{first['id']}", headers=env.key("finance", merchant=1)), 404, "invoice_not_found")
    assert counts(env) == after_first


def test_invoicing_needs_the_merchants_settings_and_a_valid_seller(env):
    # The demo's retailer invoices; the web shop (merchant 1) has not set it up.
    env.problem(issue(env, env.paid(100, merchant=1), merchant=1), 409, "invoicing_not_configured")
    bad = {"seller_name": "X", "seller_tax_id": "91350100M000100Y44", "item_name": "*服务*服务费",
           "tax_category_code": "3040000000000000000", "tax_rate_bps": 600}
    env.problem(env.client.put("/v1/invoice-settings", json=bad, headers=env.key("finance", 1)), 422, "invalid_credit_code")
    env.problem(env.client.put("/v1/invoice-settings", json={**bad, "seller_tax_id": "91350100M000100Y43", "tax_rate_bps": 1700},
                               headers=env.key("finance", 1)), 422, "invalid_tax_line")
    env.problem(env.client.get("/v1/invoice-settings", headers=env.key("finance", 1)), 404, "invoicing_not_configured")


def test_red_letter_invoices_take_back_at_most_the_original(env, tax):
    paid = env.paid(128800)
    blue = issue(env, paid).json()
    red = env.client.post(f"/v1/invoices/{blue['id']}/red-letter", json={"amount_minor": 30000}, headers=env.key("finance"))
    assert red.status_code == 201, red.text
    red = red.json()
    assert (red["kind"], red["original_id"], red["total_minor"], red["total_in_words"]) == ("red", blue["id"], -30000, "负叁佰元整")
    assert red["amount_minor"] + red["tax_minor"] == -30000 and red["number"] != blue["number"]
    xml = etree.fromstring(env.client.get(f"/v1/invoices/{red['id']}.xml", headers=env.key("finance")).content)
    assert xml.findtext("EInvoiceData/BasicInformation/RedInvoiceOriginalNumber") == blue["number"]
    pdf = env.client.get(f"/v1/invoices/{red['id']}.pdf", headers=env.key("finance")).content
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "红字" in text and blue["number"] in text and "负叁佰元整" in text and "¥-300.00" in text
    pypdfium2.PdfDocument(pdf)[0].render(scale=1.5).to_pil().save(ARTEFACTS / "invoice-red.png")
    rest = env.client.post(f"/v1/invoices/{blue['id']}/red-letter", json={"amount_minor": 98800}, headers=env.key("finance"))
    assert rest.status_code == 201 and rest.json()["total_minor"] == -98800
    env.problem(env.client.post(f"/v1/invoices/{blue['id']}/red-letter", json={"amount_minor": 1}, headers=env.key("finance")),
                422, "red_letter_exceeds_original")
    env.problem(env.client.post(f"/v1/invoices/{red['id']}/red-letter", json={"amount_minor": 1}, headers=env.key("finance")),
                409, "invoice_not_redeemable")


def test_a_platform_that_is_down_issues_nothing_and_asking_again_issues_once(env, tax):
    simulator, server, _ = tax
    paid = env.paid(5000)
    assert httpx.put(f"{server.base_url}/sandbox/faults", json={"error_5xx_rate": 1.0}).status_code == 200
    env.problem(issue(env, paid), 503, "tax_platform_unavailable")
    assert env.client.get("/v1/invoices", headers=env.key("finance")).json()["data"] == []
    with env.db.reader() as session:
        (pending,) = session.scalars(select(Invoice)).all()
    assert pending.status == "issuing" and pending.number is None
    # The platform took the request but its answer was lost: asked again, it answers with that invoice.
    simulator.injector.configure(simulator.injector.faults.model_copy(update={"error_5xx_rate": 0.0}))
    lost = tax_platform.to_wire(tax_platform.Issue(pending.request_no, "blue", pending.seller_name, pending.seller_tax_id,
                                                   pending.buyer_name, pending.buyer_tax_id, [line(**{
                                                       "name": "*日用杂品*日用百货", "tax_category_code": "1060512990000000000",
                                                       "rate_bps": 1300, "total_minor": 5000})]))
    number = json.loads(simulator.issue(lost).body)["fphm"]
    again = issue(env, paid)
    assert again.status_code == 201 and again.json()["number"] == number
    assert len(simulator.issued) == 1


def test_the_platform_refuses_a_request_signed_with_another_secret(tax):
    _, server, platform = tax
    forged = tax_platform.TaxPlatform(server.base_url, platform.app_id, "not-the-secret")
    request = tax_platform.Issue("serial-1", "blue", "莲花超市有限公司", "91350100M000100Y43", "个人", None,
                                 [line("*日用杂品*日用百货", "1060512990000000000", 1300, 100)])
    try:
        forged.issue(request)
    except tax_platform.PlatformError as e:
        assert e.refused and "bad_signature" in str(e)
    else:
        raise AssertionError("a forged signature was accepted")
    assert platform.issue(request).number.isdigit()
