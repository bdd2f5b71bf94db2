"""Reconciliation over a running Juhe: the channel's real statement (the Alipay sandbox's trade
bill, GBK CSV in a zip) against our books; discrepancies the sandbox planted are found, none
are invented; what can be proven is resolved; finance writes off the rest through the API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from juhe.channels.simkit import Faults
from juhe.config import get_settings
from juhe.ledger import verify_ledger
from juhe.payments.models import Payment
from juhe.recon.models import ReconCase, ReconCaseEvent, ReconItem
from juhe.recon.service import ReconRunError, run_reconciliation

TOKEN = "platform-operator-token-for-tests"
PLANTED_CATEGORY = {"amount": "amount_mismatch", "missing": "missing_channel", "status": "status_mismatch",
                    "phantom": "missing_ours"}


@pytest.fixture
def platform(monkeypatch):
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", TOKEN)
    get_settings.cache_clear()
    yield {"Authorization": f"Bearer {TOKEN}"}
    get_settings.cache_clear()


def today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def paid_qr(stack, n: int, key: str) -> list[dict]:
    done = []
    for i in range(n):
        body = {"amount_minor": 1000 + 137 * i, "currency": "CNY", "scenario": "qr", "subject": "tea",
                "preferred_channel": "alipay"}
        payment = stack.api.post("/v1/payments", json=body, headers=stack.key("business") | {"Idempotency-Key": f"{key}-{i}"}).json()
        assert stack.pay(payment).status_code == 200
        done.append(stack.wait_for(payment["id"], {"succeeded"}))
    assert all(p["status"] == "succeeded" for p in done)
    return done


def cases(stack) -> list[ReconCase]:
    with stack.db.reader() as session:
        return list(session.scalars(select(ReconCase)))


@pytest.mark.parametrize("stack", ["sqlite_url", "pg_url"], indirect=True)
def test_a_clean_day_matches_every_payment_and_refund_and_a_rerun_changes_nothing(stack, platform):
    paid = paid_qr(stack, 5, "clean")
    refund = stack.api.post(f"/v1/payments/{paid[0]['id']}/refunds", json={"amount_minor": 300},
                            headers=stack.key("business") | {"Idempotency-Key": "clean-refund"})
    assert refund.json()["status"] == "succeeded", refund.text
    run = stack.api.post("/v1/reconciliations", json={"channel": "alipay", "date": today()}, headers=platform)
    assert run.status_code == 201, run.text
    summary = run.json()["summary"]
    assert summary["categories"]["matched"]["CNY"]["rows"] == 6 and set(summary["categories"]) == {"matched"}
    assert summary["open_cases"] == 0 and cases(stack) == []
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(ReconItem).where(ReconItem.category == "matched")) == 6
    again = stack.api.post("/v1/reconciliations", json={"channel": "alipay", "date": today()}, headers=platform)
    assert again.json()["id"] == run.json()["id"] and len(cases(stack)) == 0


def test_every_planted_discrepancy_is_found_and_none_invented(stack, platform):
    sandbox = stack.sandbox("alipay").sandbox
    paid_qr(stack, 12, "planted")
    sandbox.injector.configure(Faults(bill_discrepancy_rate=0.5, seed=7))
    run = stack.api.post("/v1/reconciliations", json={"channel": "alipay", "date": today()}, headers=platform).json()
    planted = sandbox.planted[datetime.fromisoformat(today()).date()]
    assert planted, "the seed plants at least one discrepancy"
    found = {(c.order_no, c.category) for c in cases(stack)}
    assert found == {(p.order_no, PLANTED_CATEGORY[p.kind]) for p in planted}
    assert run["summary"]["categories"]["matched"]["CNY"]["rows"] == 12 - len({p.order_no for p in planted if p.kind != "phantom"})


def test_a_payment_the_channel_shows_paid_while_we_wait_is_proven_and_booked(stack, platform):
    sandbox = stack.sandbox("alipay").sandbox
    body = {"amount_minor": 4200, "currency": "CNY", "scenario": "qr", "subject": "late", "preferred_channel": "alipay"}
    payment = stack.api.post("/v1/payments", json=body, headers=stack.key("business") | {"Idempotency-Key": "late"}).json()
    with stack.db.session() as session, session.begin():  # the poller will not look for an hour
        session.execute(update(Payment).values(next_poll_at=datetime.now(ZoneInfo("UTC")) + timedelta(hours=1)))
    sandbox.injector.configure(Faults(lost_notify_rate=1.0))
    assert stack.pay(payment).status_code == 200
    assert stack.api.get(f"/v1/payments/{payment['id']}", headers=stack.key("business")).json()["status"] == "processing"
    run = stack.api.post("/v1/reconciliations", json={"channel": "alipay", "date": today()}, headers=platform).json()
    [case] = cases(stack)
    assert case.status == "auto_resolved" and case.category == "status_mismatch" and run["summary"]["open_cases"] == 0
    assert stack.api.get(f"/v1/payments/{payment['id']}", headers=stack.key("business")).json()["status"] == "succeeded"


def test_finance_writes_off_an_amount_difference_with_a_balanced_posting(stack, platform):
    sandbox = stack.sandbox("alipay").sandbox
    paid_qr(stack, 12, "writeoff")
    sandbox.injector.configure(Faults(bill_discrepancy_rate=0.5, seed=7))
    stack.api.post("/v1/reconciliations", json={"channel": "alipay", "date": today()}, headers=platform)
    case = next(c for c in cases(stack) if c.category == "amount_mismatch")
    finance = stack.key("finance")
    refused = stack.api.post(f"/v1/reconciliations/cases/{case.id}/actions", json={"action": "write_off"}, headers=finance)
    assert refused.status_code == 422 and refused.json()["code"] == "comment_required"
    done = stack.api.post(f"/v1/reconciliations/cases/{case.id}/actions",
                          json={"action": "write_off", "comment": "Alipay confirmed the short payment"}, headers=finance)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "written_off" and done.json()["ledger_txn_id"]
    assert [e["action"] for e in done.json()["events"]] == ["opened", "written_off"]
    again = stack.api.post(f"/v1/reconciliations/cases/{case.id}/actions",
                           json={"action": "write_off", "comment": "twice"}, headers=finance)
    assert again.status_code == 409 and again.json()["code"] == "case_closed"
    other = stack.api.get(f"/v1/reconciliations/cases/{case.id}", headers=stack.key("finance", 1))
    assert other.status_code == 404
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_bad_requests_are_refused_and_change_nothing(stack, platform):
    merchant_finance = stack.key("finance")
    assert stack.api.post("/v1/reconciliations", json={"channel": "alipay", "date": today()},
                          headers=merchant_finance).status_code == 403
    unknown = stack.api.post("/v1/reconciliations", json={"channel": "paypal", "date": today()}, headers=platform)
    assert unknown.status_code == 404 and unknown.json()["code"] == "channel_not_found"
    with pytest.raises(ReconRunError) as broken:
        asyncio.run(run_reconciliation(stack.runtime.payments, "alipay", datetime.fromisoformat(today()).date(),
                                       statement=b"PK\x03\x04 not a zip"))
    assert broken.value.status == 422
    assert stack.api.get("/v1/reconciliations", headers=platform).json()["data"] == []
    assert stack.api.get(f"/v1/reconciliations/cases/{uuid.uuid4()}", headers=merchant_finance).status_code == 404


@pytest.mark.parametrize("stack", ["sqlite_url", "pg_url"], indirect=True)
def test_a_bank_statement_that_does_not_add_up_is_reconciled_and_raises_a_balance_case(stack, platform):
    raw = (Path(__file__).parents[1] / "recon" / "data" / "mt940" / "boc_balance_mismatch.sta").read_bytes()
    run, created = asyncio.run(run_reconciliation(stack.runtime.payments, "bank", date(2025, 11, 24), statement=raw))
    assert created and run.statement_lines == 2  # both lines are reconciled, not the day refused
    [warning] = run.summary["warnings"]
    assert (warning["code"], warning["line"], warning["difference_minor"]) == ("balance_mismatch", 9, 300_00)
    [case] = [c for c in cases(stack) if c.category == "balance_mismatch"]
    # ours: what the opening balance and the lines make; the channel's: the closing balance the bank states
    assert (case.ours_amount_minor, case.channel_amount_minor) == (100000_00 - 8500_00 + 2000_00, 93800_00)
    assert (case.status, case.line_no, case.currency, case.merchant_id) == ("open", 9, "CNY", None)
    assert run.summary["open_cases"] == sum(c.status == "open" for c in cases(stack))
    with stack.db.reader() as session:
        [opened] = session.scalars(select(ReconCaseEvent).where(ReconCaseEvent.case_id == case.id))
    assert "make 93500.00, the closing balance says 93800.00 CNY" in opened.comment
