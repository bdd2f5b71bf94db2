"""Receipts: one for every succeeded payment and refund, each a record in the Merkle log; the
payer's page and PDF (Chinese and English) carry the record's inclusion proof, which `juhe
trace verify` accepts offline, and which fails once the record is altered."""

from __future__ import annotations

import io
import uuid
import json
from pathlib import Path

import pypdfium2
import pytest
from cryptography.hazmat.primitives import serialization
from pypdf import PdfReader
from typer.testing import CliRunner

from juhe.cli import app as cli
from juhe.receipts import service
from juhe.receipts.models import Receipt
from juhe.trace import merkle, proofs

ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "receipts"  # pages rendered, to look at


def receipts_of(env, payment_id) -> list[dict]:
    r = env.client.get("/v1/receipts", params={"payment_id": str(payment_id)}, headers=env.key("finance"))
    assert r.status_code == 200, r.text
    return r.json()["data"]


def path_of(url: str) -> str:
    return url.removeprefix("https://pay.example.test")


@pytest.mark.parametrize("env", ["sqlite_url", "pg_url"], indirect=True)
def test_every_succeeded_payment_and_refund_gets_one_receipt_in_the_log(env):
    paid = env.paid(128800)
    env.paid(500, status="failed")
    refund = env.refunded(paid, 30000)
    assert service.issue_due(env.db) == 2
    assert service.issue_due(env.db) == 0  # the look-back reads the same events again: still one each
    (refund_receipt, payment_receipt) = receipts_of(env, paid)
    assert (payment_receipt["kind"], payment_receipt["amount_minor"]) == ("payment", 128800)
    assert (refund_receipt["kind"], refund_receipt["object_id"], refund_receipt["amount_minor"]) == ("refund", str(refund), 30000)
    assert payment_receipt["url"].startswith("https://pay.example.test/receipts/")
    with env.db.reader() as session:
        stored = session.get(Receipt, uuid.UUID(payment_receipt["id"]))
        record = service.record(session, stored)
        check = proofs.verify_database(session, env.public_key())
    assert record["kind"] == "receipt" and record["payment_id"] == str(paid) and record["amount_minor"] == 128800
    assert stored.token not in json.dumps(record)  # the link's secret is not in the public log
    assert check.problems == []
    assert receipts_of(env, paid) == receipts_of(env, paid)
    assert env.client.get("/v1/receipts", headers=env.key("finance", merchant=1)).json()["data"] == []


def test_the_receipt_page_opens_without_a_key_and_carries_the_proof(env, tmp_path):
    paid = env.paid(1288, subject="Oolong 乌龙茶")
    service.issue_due(env.db)
    (receipt,) = receipts_of(env, paid)
    page = env.client.get(path_of(receipt["url"]))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    text = page.text
    assert "交易凭证" in text and "Payment receipt" in text and "Lotus Mart 莲花超市" in text and "Oolong 乌龙茶" in text
    assert "12.88 CNY" in text and "壹拾贰元捌角捌分" in text and "juhe trace verify" in text
    document = env.client.get(path_of(receipt["url"]) + "/proof.json").json()
    assert f"{document['leaf_index']}</code>" in text and document["tree_head"].split("\n")[2] in text
    assert proofs.verify_document(document, env.public_key()).startswith(f"record {document['leaf_index']} is in")

    proof_file, key_pem = tmp_path / "proof.json", tmp_path / "log.pub"
    proof_file.write_text(json.dumps(document))
    key_pem.write_bytes(env.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    verified = CliRunner().invoke(cli, ["trace", "verify", str(proof_file), "--public-key", str(key_pem), "--json"])
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True
    forged = {**document, "record": document["record"].replace('"amount_minor":1288', '"amount_minor":12')}
    proof_file.write_text(json.dumps(forged))
    refused = CliRunner().invoke(cli, ["trace", "verify", str(proof_file), "--public-key", str(key_pem), "--json"])
    assert refused.exit_code == 1 and json.loads(refused.stdout)["ok"] is False


def test_the_receipt_pdf_reads_in_chinese_and_english_and_embeds_a_proof_that_verifies(env):
    paid = env.paid(128800, subject="Jasmine tea 茉莉花茶")
    refund = env.refunded(paid, 800)
    service.issue_due(env.db)
    for receipt in receipts_of(env, paid):
        pdf = env.client.get(path_of(receipt["url"]) + "/receipt.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        reader = PdfReader(io.BytesIO(pdf.content))
        text = "\n".join(page.extract_text() for page in reader.pages)
        assert "Lotus Mart 莲花超市" in text and "Jasmine tea 茉莉花茶" in text and "上链证明 Inclusion proof" in text
        document = json.loads(reader.attachments["proof.json"][0])
        assert proofs.verify_document(document, env.public_key()).startswith("record ")
        assert f"叶子序号 Leaf index\n{document['leaf_index']}\n树大小 Tree size\n{document['tree_size']}" in text and all(node in text for node in document["path"])
        if receipt["kind"] == "payment":
            assert "交易凭证 Payment receipt" in text and "1288.00 CNY" in text and "壹仟贰佰捌拾捌元整" in text
        else:
            assert "退款凭证 Refund receipt" in text and "8.00 CNY" in text and str(refund) in text
        image = pypdfium2.PdfDocument(pdf.content)[0].render(scale=1.5).to_pil()
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        image.save(ARTEFACTS / f"receipt-{receipt['kind']}.png")
        assert image.size[0] > 800 and image.convert("L").getextrema()[0] < 100  # something was drawn


def test_an_edited_receipt_record_no_longer_proves_and_the_log_check_finds_it(env):
    from sqlalchemy import update

    from juhe.trace.models import TraceEntry

    paid = env.paid(1288)
    service.issue_due(env.db)
    (receipt,) = receipts_of(env, paid)
    document = env.client.get(path_of(receipt["url"]) + "/proof.json").json()
    with env.db.session() as session, session.begin():
        session.execute(update(TraceEntry).where(TraceEntry.leaf_index == document["leaf_index"])
                        .values(data=document["record"].replace("1288", "128")))
    edited = env.client.get(path_of(receipt["url"]) + "/proof.json").json()
    with pytest.raises(merkle.ProofError):
        proofs.verify_document(edited, env.public_key())
    with env.db.reader() as session:
        check = proofs.verify_database(session, env.public_key())
    assert check.first_bad_leaf == document["leaf_index"]


def test_an_unknown_or_malformed_token_is_not_found(env):
    for token in ("x" * 43, "short", "../../etc/passwd"):
        assert env.client.get(f"/receipts/{token}").status_code == 404
    env.problem(env.client.get(f"/receipts/{'x' * 43}/receipt.pdf"), 404, "receipt_not_found")
    env.problem(env.client.get(f"/receipts/{'x' * 43}/proof.json"), 404, "receipt_not_found")


def test_issuing_goes_on_past_one_batch_and_the_look_back(env, monkeypatch):
    monkeypatch.setattr(service, "ISSUE_BATCH", 2)
    monkeypatch.setattr(service, "LOOKBACK_EVENTS", 3)
    monkeypatch.setattr(service, "BATCHES_PER_ROUND", 2)
    paid = [env.paid(100 + n) for n in range(7)]
    assert service.issue_due(env.db) == 4  # two batches of two this round
    assert service.issue_due(env.db) == 3
    assert service.issue_due(env.db) == 0
    with env.db.reader() as session:
        assert {r.object_id for r in service.of_merchant(session, env.merchant_id())} == set(paid)
