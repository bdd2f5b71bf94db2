"""`juhe settle run | reserve-proof | fee-schedule` through the Typer sub-app."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from juhe.audit.models import AuditRecord
from juhe.channels.bank import camt053
from juhe.channels.bank.camt053 import Account
from juhe.settlement.commands import settle_app

SHANGHAI = ZoneInfo("Asia/Shanghai")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(settle_app, list(args), catch_exceptions=False)


def audited(books) -> list[tuple[str, str]]:
    with books.db.reader() as session:
        return [(r.action, r.outcome) for r in session.query(AuditRecord).order_by(AuditRecord.id)]


def test_run_prints_one_json_object_and_a_rerun_moves_nothing(books):
    books.profile()
    books.pay(100_00, datetime(2025, 10, 9, 10, tzinfo=SHANGHAI))
    first = invoke("run", "--date", "2025-10-10", "--database-url", books.db.url, "--json")
    assert first.exit_code == 0, first.output
    answer = json.loads(first.stdout)
    (mine,) = [m for m in answer["merchants"] if m["merchant_id"] == str(books.merchant())]
    assert answer["working_day"] is True and mine["outcome"] == "settled" and len(mine["batch_ids"]) == 1
    again = json.loads(invoke("run", "--date", "2025-10-10", "--database-url", books.db.url, "--json").stdout)
    assert again["merchants"][0]["outcome"] == "already_run"
    holiday = invoke("run", "--date", "2025-10-08", "--database-url", books.db.url)
    assert holiday.exit_code == 0 and "not a working day" in holiday.stdout
    assert audited(books) == [("settle.run", "succeeded")] * 3


def test_run_refuses_bad_dates_and_unknown_merchants(books):
    bad = invoke("run", "--date", "2025-13-40", "--database-url", books.db.url)
    assert bad.exit_code == 2 and "--date must be a date" in bad.output
    unknown = invoke("run", "--date", "2025-10-10", "--merchant", "5d3c0f7e-0000-4000-8000-000000000000",
                     "--database-url", books.db.url)
    assert unknown.exit_code == 2 and "merchant_not_found" in unknown.output
    future = invoke("run", "--date", "2099-01-05", "--database-url", books.db.url)
    assert future.exit_code == 2 and "settlement_date_in_future" in future.output
    assert books.batches() == []
    assert audited(books) == [("settle.run", "failed:merchant_not_found"), ("settle.run", "failed:settlement_date_in_future")]


def test_reserve_proof_exits_1_on_a_mismatch(books, tmp_path):
    statement = tmp_path / "camt053.xml"
    account = Account("31050161393600000123", "CNY", "聚合示范科技有限公司", "999290000018")
    statement.write_bytes(camt053.write("S1", datetime(2025, 10, 9, 23, tzinfo=SHANGHAI), account,
                                       datetime(2025, 10, 9).date(), 1, 12_00, []))
    result = invoke("reserve-proof", "--date", "2025-10-09", "--statement", str(statement), "--database-url", books.db.url, "--json")
    assert result.exit_code == 1
    proof = json.loads(result.stdout)
    assert proof["ok"] is False and proof["currencies"][0]["difference_minor"] == 12_00
    garbage = tmp_path / "garbage.xml"
    garbage.write_bytes(b"<x/>")
    refused = invoke("reserve-proof", "--date", "2025-10-09", "--statement", str(garbage), "--database-url", books.db.url)
    assert refused.exit_code == 2 and "invalid_statement" in refused.output
    assert audited(books) == [("settle.reserve-proof", "failed:reserve_mismatch"), ("settle.reserve-proof", "failed:invalid_statement")]


def test_fee_schedule_is_checked_before_it_is_stored(books, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "percentage", "rate_bps": 60.5}')
    refused = invoke("fee-schedule", str(books.merchant()), "alipay", str(bad), "--database-url", books.db.url)
    assert refused.exit_code == 2 and "invalid_fee_schedule" in refused.output and "rate_bps" in refused.output
    good = tmp_path / "good.json"
    good.write_text('{"kind": "fixed", "amount_minor": 30}')
    stored = invoke("fee-schedule", str(books.merchant()), "alipay", str(good), "--database-url", books.db.url,
                    "--effective-from", "2025-11-01T00:00:00+08:00")
    assert stored.exit_code == 0 and '"amount_minor": 30' in stored.output
    with books.db.reader() as session:  # both attempts are in the audit trail, the refusal too
        audited = [(r.action, r.outcome, r.object_id, r.actor.startswith("cli:"))
                   for r in session.query(AuditRecord).order_by(AuditRecord.id)]
    assert audited == [("settle.fee-schedule", "failed:invalid_fee_schedule", "alipay", True),
                       ("settle.fee-schedule", "succeeded", "alipay", True)]
