"""Batch transfers end to end: every line checked, every amount held, one pain.001 sent, each
item settled (hold captured) or rejected (hold voided) by the bank's pain.002."""

from __future__ import annotations

import time

from lxml import etree
from sqlalchemy import func, select

from juhe.ledger import verify_ledger
from juhe.transfers.models import TransferBatch

HEADER = "end_to_end_id,amount,currency,creditor_name,creditor_account,creditor_bank,remittance_info\n"
GOOD = HEADER + (
    "PAY-001,1200.00,CNY,张三,6222020200112233445,102290024433,November salary\n"
    "PAY-002,800.50,CNY,李四,6222000000000000404,102290024433,November salary\n"  # closed: AC04
    "PAY-003,300.00,CNY,Shanghai Steel Co,6222020200998877665,102290024433,INV-7781\n"
)


def send(stack, body: str, key: str = "b1", role: str = "finance"):
    headers = {**stack.key(role), "Idempotency-Key": key, "Content-Type": "text/csv"}
    return stack.api.post("/v1/transfers/batches?category_purpose=SALA", content=body.encode(), headers=headers)


def available(stack) -> int:
    accounts = stack.api.get("/v1/accounts", headers=stack.key("finance")).json()["data"]
    return next(a for a in accounts if a["owner_type"] == "merchant")["balance"]["available_minor"]


def batches(stack) -> int:
    with stack.db.reader() as session:
        return session.scalar(select(func.count()).select_from(TransferBatch))


def test_batch_holds_sends_and_settles_each_item_by_its_status(stack, fund):
    fund(500_000)
    sent = send(stack, GOOD)
    assert sent.status_code == 201, sent.text
    batch = sent.json()
    assert batch["total_minor"] == 230_050 and batch["item_count"] == 3
    assert available(stack) == 500_000 - 230_050  # held at once
    deadline = time.monotonic() + 30
    while batch["status"] == "submitted" and time.monotonic() < deadline:
        time.sleep(0.1)
        batch = stack.api.get(f"/v1/transfers/batches/{batch['id']}", headers=stack.key("finance")).json()
    assert batch["status"] == "completed", batch
    by_id = {i["end_to_end_id"]: i for i in batch["items"]}
    assert by_id["PAY-002"]["status"] == "rejected" and by_id["PAY-002"]["reason_code"] == "AC04"
    assert by_id["PAY-001"]["status"] == by_id["PAY-003"]["status"] == "settled"
    assert available(stack) == 500_000 - 120_000 - 30_000  # the rejected item's hold is back
    document = stack.api.get(f"/v1/transfers/batches/{batch['id']}/file", headers=stack.key("finance"))
    assert document.headers["content-type"] == "application/xml"
    root = etree.fromstring(document.content)
    assert root.tag.endswith("Document") and "pain.001.001.09" in root.tag
    with stack.db.engine.connect() as conn, conn.begin():
        assert verify_ledger(conn).ok


def test_bad_lines_reject_the_batch_with_line_numbers_and_change_nothing(stack, fund):
    fund(500_000)
    bad = HEADER + "PAY-001,12.345,CNY,张三,6222020200112233445,102290024433,x\nPAY-001,5.00,XXX,,123,102290024433,y\n"
    answer = send(stack, bad)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_transfer_lines"
    lines = {e["line"] for e in answer.json()["errors"]}
    assert lines == {2, 3}
    assert batches(stack) == 0 and available(stack) == 500_000


def test_batch_beyond_the_balance_is_refused_and_nothing_is_sent(stack, fund):
    fund(100_000)
    answer = send(stack, GOOD)
    assert answer.status_code == 422 and answer.json()["code"] == "insufficient_funds"
    assert batches(stack) == 0 and available(stack) == 100_000


def test_same_key_replays_and_only_finance_may_send(stack, fund):
    fund(500_000)
    first = send(stack, GOOD)
    again = send(stack, GOOD)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert send(stack, GOOD.replace("300.00", "301.00")).json()["code"] == "idempotency_key_reused"
    assert send(stack, GOOD, key="b2", role="business").status_code == 403
    assert batches(stack) == 1
    other = stack.api.get(f"/v1/transfers/batches/{first.json()['id']}", headers=stack.key("finance", 1))
    assert other.status_code == 404


def _export(tmp_path, body: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    batch = tmp_path / "batch.csv"
    batch.write_text(body, encoding="utf-8")
    juhe = Path(sys.executable).with_name("juhe")
    env = {**os.environ, "JUHE_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "out.xml"
    result = subprocess.run([str(juhe), "transfers", "export-pain001", str(batch), "--out", str(out)],
                            capture_output=True, text=True, env=env)
    return result, out


def test_export_pain001_writes_the_file_that_would_be_sent(tmp_path):
    from juhe.channels.bank import pain001

    result, out = _export(tmp_path, GOOD)
    assert result.returncode == 0, result.stderr
    document = out.read_bytes()
    assert pain001.read(document).msg_id.startswith("EXPORT")
    assert [i.end_to_end_id for i in pain001.read(document).transfers] == ["PAY-001", "PAY-002", "PAY-003"]


def test_export_pain001_names_every_bad_line_and_writes_nothing(tmp_path):
    result, out = _export(tmp_path, HEADER + "PAY-001,1.001,CNY,,6222020200112233445,102290024433,x\n")
    assert result.returncode == 2
    assert "line 2: amount" in result.stderr and "line 2: creditor_name" in result.stderr
    assert not out.exists()
