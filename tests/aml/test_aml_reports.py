"""Suspicious-transaction and large-value reports, and the movements CSV they start from."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from juhe.aml.cases import decide, open_case
from juhe.aml.errors import AmlError
from juhe.aml.large_value import large_value_csv, large_value_report
from juhe.aml.movements import movements_frame, read_movements_csv, write_movements_csv
from juhe.aml.scenarios import monitor
from juhe.aml.service import write_large_value_report, write_suspicious_report
from juhe.aml.suspicious_report import Subject, report_csv, suspicious_transaction_report

UTC = timezone.utc
T0 = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
YUAN = 100


def row(movement_id, account, direction, amount_minor, at, channel="bank", currency="CNY", account_type="corporate",
        counterparty="cp"):
    return {"movement_id": movement_id, "account_id": account, "counterparty_id": counterparty, "direction": direction,
            "amount_minor": amount_minor, "currency": currency, "occurred_at": at, "channel": channel,
            "account_type": account_type}


@pytest.fixture
def structured():
    rows = [row(f"m{n}", "AC7", "in", 49_000 * YUAN + n, T0 + timedelta(hours=20 * n), channel="cash") for n in range(3)]
    rows.append(row("m9", "AC8", "in", 100 * YUAN, T0))
    return movements_frame(rows)


def reported_case(frame):
    [alert] = monitor(frame)
    case = open_case([alert], owner="li", actor="system", at=T0 + timedelta(days=3))
    case = decide(case, "escalated", actor="li", reason="deposits hug the threshold", at=T0 + timedelta(days=3, hours=1))
    return decide(case, "reported", actor="wang.mlro", reason="no source of funds given", at=T0 + timedelta(days=4))


SUBJECT = Subject(account_id="AC7", name="金海贸易有限公司", subject_type="corporate", id_number="91310000MA1FL00000",
                  country="CN")


def test_str_json_has_case_subject_movements_and_reason(structured, tmp_path):
    case = reported_case(structured)
    report = write_suspicious_report(case, SUBJECT, structured, reporter="wang.mlro", at=T0 + timedelta(days=4),
                                     json_path=tmp_path / "str.json", csv_path=tmp_path / "str.csv")
    data = json.loads((tmp_path / "str.json").read_text(encoding="utf-8"))
    assert data == report
    assert data["case"]["case_id"] == case.case_id and data["case"]["decision"] == "reported"
    assert data["subject"]["name"] == "金海贸易有限公司"
    assert [m["movement_id"] for m in data["movements"]] == ["m0", "m1", "m2"]  # m9 is another account's
    assert data["movements"][0]["amount"] == "49000.00"
    assert data["totals"] == [{"currency": "CNY", "in_minor": 147_000_03, "out_minor": 0, "count": 3}]
    assert data["reason"].startswith("no source of funds given. Patterns found: structuring: 3 amounts")


def test_str_csv_one_row_per_movement(structured):
    report = suspicious_transaction_report(reported_case(structured), SUBJECT, structured, reporter="w", at=T0)
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert [r["movement_id"] for r in rows] == ["m0", "m1", "m2"]
    assert {r["subject_id_number"] for r in rows} == {"91310000MA1FL00000"} and rows[0]["scenarios"] == "structuring"
    assert rows[2]["amount_minor"] == str(49_000 * YUAN + 2)


def test_only_a_reported_case_has_an_str(structured):
    [alert] = monitor(structured)
    pending = open_case([alert], owner="li", actor="system", at=T0)
    with pytest.raises(AmlError) as raised:
        suspicious_transaction_report(pending, SUBJECT, structured, reporter="w", at=T0)
    assert raised.value.code == "case_not_reported"


def test_str_needs_the_right_subject_and_all_evidence(structured):
    case = reported_case(structured)
    other = Subject(account_id="AC8", name="Someone", subject_type="person")
    with pytest.raises(AmlError) as raised:
        suspicious_transaction_report(case, other, structured, reporter="w", at=T0)
    assert raised.value.code == "subject_mismatch"
    with pytest.raises(AmlError) as raised:
        suspicious_transaction_report(case, SUBJECT, structured.filter(structured["movement_id"] != "m1"),
                                      reporter="w", at=T0)
    assert raised.value.code == "evidence_missing" and "m1" in str(raised.value)


def test_subject_is_checked():
    with pytest.raises(AmlError, match="subject_type"):
        Subject(account_id="A", name="X", subject_type="trust")


def report_of(rows):
    return large_value_report(movements_frame(rows))


def test_cash_reported_when_a_beijing_day_adds_up_to_50000():
    rows = [row("c1", "A", "in", 30_000 * YUAN, T0, channel="cash"), row("c2", "A", "in", 20_000 * YUAN, T0 + timedelta(hours=5), channel="cash"),
            row("c3", "A", "out", 49_999 * YUAN, T0, channel="cash")]  # out is summed apart: under the threshold
    report = report_of(rows)
    assert report["movement_id"].to_list() == ["c1", "c2"]
    assert set(report["day_total_minor"]) == {50_000 * YUAN} and set(report["report_rule"]) == {"cash"}


def test_the_day_is_beijings_not_utcs():
    # 15:00 and 17:00 UTC are 23:00 and 01:00 in Beijing: two days, neither reaching 50,000.
    late = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
    rows = [row("c1", "A", "in", 30_000 * YUAN, late, channel="cash"),
            row("c2", "A", "in", 30_000 * YUAN, late + timedelta(hours=2), channel="cash")]
    assert report_of(rows).height == 0
    early = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 and 11:00 in Beijing: one day
    rows = [row("c1", "A", "in", 30_000 * YUAN, early, channel="cash"),
            row("c2", "A", "in", 30_000 * YUAN, early + timedelta(hours=2), channel="cash")]
    report = report_of(rows)
    assert report.height == 2 and str(report["report_date"][0]) == "2025-03-01"


@pytest.mark.parametrize("account_type, channel, amount_yuan, reported", [
    ("corporate", "bank", 2_000_000, True), ("corporate", "bank", 1_999_999, False),
    ("person", "bank", 500_000, True), ("person", "bank", 499_999, False),
    ("person", "crossborder", 200_000, True), ("person", "crossborder", 199_999, False),
    ("corporate", "crossborder", 1_000_000, False),  # companies: 2,000,000 domestic or cross-border
])
def test_thresholds_by_customer_type_and_channel_are_inclusive(account_type, channel, amount_yuan, reported):
    report = report_of([row("t1", "A", "out", amount_yuan * YUAN, T0, channel=channel, account_type=account_type)])
    assert (report.height == 1) is reported


def test_usd_large_value_and_csv(tmp_path):
    rows = [row("u1", "A", "in", 200_000_00, T0, currency="USD"), row("u2", "A", "in", 100, T0, currency="CNY")]
    count = write_large_value_report(movements_frame(rows), tmp_path / "lv.csv")
    lines = list(csv.DictReader((tmp_path / "lv.csv").open(encoding="utf-8")))
    assert count == 1 and lines[0]["movement_id"] == "u1" and lines[0]["amount"] == "200000.00"
    assert lines[0]["threshold_minor"] == str(200_000_00) and lines[0]["occurred_at"].endswith("+00:00")


def test_empty_movements_give_an_empty_report_with_its_header():
    text = large_value_csv(large_value_report(movements_frame([])))
    assert text.splitlines()[0].startswith("report_date,account_id")


def test_movements_csv_round_trip(tmp_path, structured):
    path = tmp_path / "movements.csv"
    write_movements_csv(structured, path)
    assert read_movements_csv(path).equals(structured)


def test_movements_csv_accepts_offsets_and_converts_to_utc(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("movement_id,account_id,counterparty_id,direction,amount_minor,currency,occurred_at,channel\n"
                    "m1,A,B,in,100,CNY,2025-03-01T10:00:00+08:00,alipay\n", encoding="utf-8")
    frame = read_movements_csv(path)
    assert frame["occurred_at"][0] == datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    assert frame["account_type"][0] == "corporate"


HEADER = "movement_id,account_id,counterparty_id,direction,amount_minor,currency,occurred_at,channel\n"
GOOD = "m1,A,B,in,100,CNY,2025-03-01T10:00:00+08:00,alipay\n"


@pytest.mark.parametrize("bad, words", [
    ("m2,A,B,in,12.50,CNY,2025-03-01T10:00:00+08:00,alipay\n", "not a positive whole number"),
    ("m2,A,B,in,100,CNY,2025-03-01T10:00:00,alipay\n", "no UTC offset"),
    ("m2,A,B,in,100,CNY,yesterday,alipay\n", "not an ISO 8601 time"),
    ("m2,A,B,up,100,CNY,2025-03-01T10:00:00Z,alipay\n", "direction"),
    ("m2,A,B,in,100,ABC,2025-03-01T10:00:00Z,alipay\n", "currency"),
    ("m1,A,B,in,100,CNY,2025-03-01T10:00:00Z,alipay\n", "appears twice"),
    ("m2,A,,in,100,CNY,2025-03-01T10:00:00Z,alipay\n", "counterparty_id is empty"),
    ("m2,A,B,in,100,CNY,2025-03-01T10:00:00Z\n", "number of cells"),
])
def test_bad_movements_csv_names_the_line(tmp_path, bad, words):
    path = tmp_path / "m.csv"
    path.write_text(HEADER + GOOD + bad, encoding="utf-8")
    with pytest.raises(AmlError) as raised:
        read_movements_csv(path)
    assert raised.value.code == "invalid_movements" and raised.value.line == 3 and words in str(raised.value)


def test_movements_csv_without_required_columns(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("movement_id,account_id\nm1,A\n", encoding="utf-8")
    with pytest.raises(AmlError, match="missing columns: counterparty_id"):
        read_movements_csv(path)
    with pytest.raises(AmlError, match="cannot read"):
        read_movements_csv(Path(tmp_path / "absent.csv"))
