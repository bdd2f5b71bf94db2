"""AML reviewers decide cases in the console (escalate, dismiss, report — each with its reason,
in the case file and the audit trail); roles without the permission are refused and nothing changes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from juhe.aml import case_store
from juhe.aml.alerts import Alert
from juhe.aml.models import AmlCase
from juhe.audit.models import AuditRecord
from juhe.db.types import utcnow


def _case(console, merchant) -> uuid.UUID:
    now = utcnow()
    alert = Alert(alert_id=uuid.uuid4().hex, scenario="structuring", account_id="cust-0042", currency="CNY",
                  window_start=now - timedelta(days=1), window_end=now, movement_ids=("m1",), score=0.9,
                  reason="nine payments just under ¥50,000 in a day")
    movement = {"movement_id": "m1", "account_id": "cust-0042", "counterparty_id": "cust-9000", "direction": "in",
                "amount_minor": 4_999_900, "currency": "CNY", "occurred_at": now.isoformat(), "channel": "bank"}
    with console.db.session() as session, session.begin():
        stored = case_store.store_alerts(session, merchant, [alert], {"m1": movement}, run_id=None, actor="system:aml", at=now)
    return stored.cases_opened[0]


def _status(console, case_id) -> str:
    with console.db.reader() as session:
        return session.get(AmlCase, case_id).status


def _decide(client, console, case_id, decision: str, reason: str = "matches the customer's known payroll pattern"):
    token = console.csrf_of(client.get("/console/").text)
    return client.post(f"/console/aml/cases/{case_id}/decision", data={"csrf_token": token, "decision": decision, "reason": reason})


def test_risk_escalates_then_reports_a_case_and_the_str_can_be_exported(console):
    case_id = _case(console, console.merchant_a)
    risk = console.login("risk")
    assert 'action="/console/aml/cases/' in risk.get("/console/aml").text
    assert _decide(risk, console, case_id, "escalated", "amounts cluster under the reporting threshold").status_code == 303
    assert _decide(risk, console, case_id, "reported", "no business reason found").status_code == 303
    assert _status(console, case_id) == "reported"
    assert risk.get(f"/console/aml/cases/{case_id}/str.csv").status_code == 200
    with console.db.reader() as session:
        actions = session.scalars(select(AuditRecord.action).where(AuditRecord.object_id == str(case_id))).all()
    assert sorted(actions) == ["aml_case.escalated", "aml_case.reported"]


def test_an_illegal_decision_is_shown_on_the_page_and_changes_nothing(console):
    case_id = _case(console, console.merchant_a)
    risk = console.login("risk")
    page = _decide(risk, console, case_id, "reported")  # a pending case is escalated or dismissed first
    assert page.status_code == 409 and 'id="action-error"' in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert _status(console, case_id) == "pending"
    assert _decide(risk, console, case_id, "dismissed", "").status_code == 422  # a decision states its reason
    assert _status(console, case_id) == "pending"


def test_finance_and_business_may_not_decide_and_nothing_changes(console):
    case_id = _case(console, console.merchant_a)
    for role in ("finance", "business", "it"):
        assert _decide(console.login(role), console, case_id, "dismissed").status_code == 403
    assert _status(console, case_id) == "pending"


def test_a_merchant_cannot_decide_another_merchants_case(console):
    theirs = _case(console, console.merchant_b)
    assert _decide(console.login("risk"), console, theirs, "dismissed").status_code == 403
    assert _status(console, theirs) == "pending"
