"""`juhe report compliance`: a quarter of the simulated retailer with AML alerts and cases (one
reported as an STR), a payment over every large-value threshold, audit records and console users
added; the PDF's text carries each figure as this test counts it, then an edited audit record
shows as a broken chain; a merchant's report leaves the platform's reserve out."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from juhe.aml import case_store
from juhe.aml.alerts import Alert
from juhe.aml.monitoring_runs import large_value_day
from juhe.audit import trail
from juhe.audit.trail import Record
from juhe.cli import app
from juhe.console.models import ConsoleUser
from juhe.payments.models import Payment
from tests.reports.conftest import pdf_text, render_pages

SEPT = datetime(2026, 9, 20, 2, 0, tzinfo=timezone.utc)
BIG_DAY = date(2026, 9, 15)


def _alert(scenario: str, account: str, at: datetime) -> Alert:
    return Alert(alert_id=uuid.uuid4().hex, scenario=scenario, account_id=account, currency="CNY", window_start=at - timedelta(hours=2),
                 window_end=at, movement_ids=(f"m-{scenario}",), score=0.8, reason=f"{scenario} pattern")


def quarter_of_findings(simulated) -> dict:
    """Alerts, cases, an STR, a large payment, audit records and users, in 2026Q3 and just after it."""
    lotus = uuid.UUID(simulated.sql("SELECT merchant_id FROM payments LIMIT 1")[0][0])
    key_id = uuid.UUID(simulated.sql("SELECT id FROM api_keys WHERE merchant_id = ? AND roles LIKE '%finance%'", lotus.hex)[0][0])
    db = simulated.db
    with db.session() as session, session.begin():
        def store(alerts, at):
            return case_store.store_alerts(session, lotus, alerts, {a.movement_ids[0]: {} for a in alerts}, run_id=None,
                                           actor="system:aml", at=at).cases_opened
        (reported,) = store([_alert("rapid_in_out", "cust-1", SEPT), _alert("high_frequency", "cust-1", SEPT)], SEPT)
        store([_alert("structuring", "cust-2", SEPT)], SEPT)
        store([_alert("structuring", "cust-3", datetime(2026, 10, 2, tzinfo=timezone.utc))], datetime(2026, 10, 2, tzinfo=timezone.utc))
        case_store.decide_case(session, reported, lotus, "escalated", actor="risk@lotus", reason="mule pattern", at=SEPT + timedelta(days=1))
        case_store.decide_case(session, reported, lotus, "reported", actor="risk@lotus", reason="reported to the PBoC",
                               at=SEPT + timedelta(days=2))
        paid_at = datetime(2026, 9, 15, 4, 0, tzinfo=timezone.utc)
        session.add(Payment(merchant_id=lotus, idempotency_key="big", request_hash="h", amount_minor=2_500_000_00, currency="CNY",
                            scenario="qr", subject="gold", status="succeeded", channel="alipay", customer_id="cust-big",
                            expires_at=paid_at, paid_at=paid_at, created_at=paid_at, updated_at=paid_at))
        for login, role, created in (("finance@lotus", "finance", datetime(2026, 6, 1, tzinfo=timezone.utc)),
                                     ("old@lotus", "admin", datetime(2026, 1, 5, tzinfo=timezone.utc)),
                                     ("late@lotus", "risk", datetime(2026, 11, 1, tzinfo=timezone.utc))):
            # No password to check here: the hash's cost is not what this test is about.
            session.add(ConsoleUser(login=login, name=login.split("@")[0].title(), role=role, merchant_id=lotus,
                                    password_hash="-", failed_logins=0, created_at=created))
    records = [Record(actor="console:finance@lotus", action="console.login", outcome="succeeded", origin="console:127.0.0.1",
                      merchant_id=lotus, object_type="console_user", object_id="finance@lotus", at=SEPT),
               Record(actor=f"api_key:{key_id}", action="POST /v1/refunds", outcome="succeeded", origin="api:127.0.0.1",
                      merchant_id=lotus, at=SEPT + timedelta(hours=1)),
               Record(actor=f"api_key:{key_id}", action="POST /v1/refunds", outcome="failed:not_refundable", origin="api:127.0.0.1",
                      merchant_id=lotus, status_code=409, at=SEPT + timedelta(hours=2)),
               Record(actor="cli:ops", action="settle.fee-schedule", outcome="succeeded", origin="cli:host",
                      at=datetime(2026, 10, 3, tzinfo=timezone.utc))]
    for record in records:
        trail.record_now(db, record)
    with db.reader() as session:
        case_key = session.get(case_store.AmlCase, reported).case_key
    large = list(csv.DictReader(io.StringIO(large_value_day(db, BIG_DAY, merchant_id=lotus))))
    return {"lotus": lotus, "case_key": case_key, "large": large, "key_prefix": simulated.sql(
        "SELECT prefix FROM api_keys WHERE id = ?", key_id.hex)[0][0]}


def report(tmp_path, *args):
    out = tmp_path / "compliance.pdf"
    result = CliRunner().invoke(app, ["report", "compliance", *args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), pdf_text(out.read_bytes()), out.read_bytes()


def test_the_compliance_report_carries_the_quarters_aml_reserve_audit_and_access_figures_and_a_broken_chain(simulated, tmp_path):
    found = quarter_of_findings(simulated)
    summary, text, pdf = report(tmp_path, "--quarter", "2026Q3")
    render_pages(pdf, "compliance-2026Q3")

    assert "预警 Alerts raised: 3 · 新立案件 Cases opened: 2 · 期末未结案件 Cases undecided at the end: 1" in text
    assert "rapid_in_out 1" in text and "high_frequency 1" in text and "structuring 1" in text
    assert "pending 1" in text and "reported 1" in text
    assert "本季度报送 Filed this quarter: 1" in text and found["case_key"] in text and "reported to the PBoC" in text

    assert len(found["large"]) >= 1  # the 2.5 million: every movement of that customer-day is reported
    reports = {(r["report_date"], r["account_id"], r["report_rule"], r["direction"]) for r in found["large"]}
    amount = sum(int(r["amount_minor"]) for r in found["large"])
    assert f"CNY {len(reports)} {len(found['large'])} {amount // 100:,}.{amount % 100:02d}" in text
    assert summary["large_value"] == [{"currency": "CNY", "reports": len(reports), "movements": len(found["large"]), "amount_minor": amount}]

    proven = simulated.sql("SELECT count(*), sum(ok) FROM reserve_proofs WHERE day >= '2026-07-01' AND day < '2026-10-01'")[0]
    assert proven[0] >= 1 and f"CNY {proven[0]} {proven[0] - proven[1]} " in text

    in_quarter = simulated.sql("SELECT count(*), count(DISTINCT actor) FROM audit_records WHERE at >= '2026-06-30 16:00:00'"
                               " AND at < '2026-09-30 16:00:00'")[0]
    assert in_quarter == (3, 2)
    assert "本季度记录 Records this quarter: 3 · 操作人 Actors: 2" in text and "verifies 校验通过" in text
    assert "failed 1" in text and "succeeded 2" in text and "POST /v1/refunds 2" in text
    assert summary["audit"] == {"records": 3, "actors": 2, "by_outcome": {"succeeded": 2, "failed": 1}, "chain_ok": True,
                                "chain_records": 4}

    assert "finance@lotus (Finance)" in text and "old@lotus (Old)" in text and "late@lotus" not in text  # created after the quarter
    assert "2026-09-20 10:00" in text  # the login, in Beijing time
    assert "never used 从未使用" in text  # old@lotus: created in January, no login since
    assert f"{found['key_prefix']}…" in text
    keys = simulated.sql("SELECT count(*) FROM api_keys")[0][0]
    assert summary["access"]["console_users"] == 2 and summary["access"]["api_keys"] == keys

    with sqlite3.connect(simulated.path) as conn:  # then someone edits a record: the chain no longer verifies
        conn.execute("UPDATE audit_records SET outcome = 'succeeded' WHERE outcome LIKE 'failed%'")
    summary, text, _ = report(tmp_path, "--quarter", "2026Q3")
    assert summary["audit"]["chain_ok"] is False and "BROKEN 校验失败" in text and "record 3 was edited" in text


def test_a_merchants_report_has_its_own_findings_and_not_the_platforms_reserve(simulated, tmp_path):
    found = quarter_of_findings(simulated)
    (silk,), = simulated.sql("SELECT id FROM merchants WHERE id != ?", found["lotus"].hex)
    summary, text, _ = report(tmp_path, "--quarter", "2026Q3", "--merchant", str(uuid.UUID(silk)))
    assert summary["alerts"] == 0 and summary["strs"] == 0 and summary["reserve"] is None and summary["audit"]["records"] == 0
    assert "in the platform's report" in text and "finance@lotus" not in text and summary["access"]["console_users"] == 0
    lotus, text, _ = report(tmp_path, "--quarter", "2026Q3", "--merchant", str(found["lotus"]))
    assert lotus["alerts"] == 3 and lotus["audit"]["records"] == 3 and "Lotus Mart 莲花超市" in text


@pytest.mark.parametrize(("quarter", "message"), [
    ("2026Q5", "invalid_quarter"), ("2026-Q3", "invalid_quarter"), ("2999Q1", "future_period: 2999Q1 has not begun yet"),
])
def test_a_bad_or_future_quarter_is_refused(simulated, tmp_path, quarter, message):
    result = CliRunner().invoke(app, ["report", "compliance", "--quarter", quarter, "--out", str(tmp_path / "x.pdf")])
    assert result.exit_code == 2 and message in " ".join(result.output.split()) and not (tmp_path / "x.pdf").exists()
