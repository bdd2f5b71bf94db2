"""Risk page: decisions and the rules in force for risk; an edited rule set is dry-run (errors shown,
nothing activated); finance may neither open it nor dry-run."""

from __future__ import annotations

import json


def test_risk_opens_the_page_and_dry_runs_its_rules(console):
    client = console.login("risk")
    page = client.get("/console/risk")
    assert page.status_code == 200 and 'id="decisions"' in page.text and 'id="dry-run-form"' in page.text
    current = client.app.state.payments.risk.engine.rules.to_json()
    r = client.post("/console/risk/rules/dry-run", data={"csrf_token": console.csrf_of(page.text), "rules": json.dumps(current)})
    assert r.status_code == 200 and 'id="dry-run"' in r.text
    assert client.app.state.payments.risk.engine.rules.to_json() == current  # a dry run activates nothing


def test_a_broken_rule_set_is_shown_with_its_problem(console):
    client = console.login("risk")
    token = console.csrf_of(client.get("/console/risk").text)
    for text in ("{not json", json.dumps({"version": "x", "rules": [{"id": "r1", "when": "amount >", "then": "fly"}]})):
        r = client.post("/console/risk/rules/dry-run", data={"csrf_token": token, "rules": text})
        assert r.status_code == 200 and 'id="dry-run-error"' in r.text and 'id="dry-run"' not in r.text


def test_finance_cannot_open_risk_nor_dry_run_rules(console):
    client = console.login("finance")
    assert client.get("/console/risk").status_code == 403
    token = console.csrf_of(client.get("/console/").text)
    assert client.post("/console/risk/rules/dry-run", data={"csrf_token": token, "rules": "{}"}).status_code == 403


def test_the_operator_sees_the_rules_but_may_not_edit_them_here(console):
    page = console.login("operator").get("/console/risk")
    assert page.status_code == 200 and 'id="rules"' in page.text and 'id="dry-run-form"' not in page.text


def test_risk_files_a_case_outcome_that_counts_as_a_fraud_report_and_can_correct_it(console):
    from juhe.audit.models import AuditRecord
    from juhe.risk.reports import reports_of
    from sqlalchemy import select

    client = console.login("risk")
    paid = console.payment(console.merchant_a)
    token = console.csrf_of(client.get("/console/risk").text)
    filed = client.post("/console/risk/reports", data={"csrf_token": token, "payment_id": str(paid), "verdict": "fraud",
                                                       "reason": "case 17: card stolen", "case_ref": "17"})
    assert filed.status_code == 303
    corrected = client.post("/console/risk/reports", data={"csrf_token": token, "payment_id": str(paid),
                                                          "verdict": "genuine", "reason": "case 17 reopened: genuine"})
    assert corrected.status_code == 303
    with console.db.reader() as session:
        found = reports_of(session, console.merchant_a, paid)
        actions = session.scalars(select(AuditRecord.action).where(AuditRecord.object_type == "risk_report")).all()
    assert [(r.verdict, r.source, r.current, r.reported_by) for r in found] == [
        ("genuine", "case", True, "console:risk@a"), ("fraud", "case", False, "console:risk@a")]
    assert actions.count("risk_report.filed") == 2
    page = client.get("/console/risk").text
    assert 'id="fraud-reports"' in page and "case 17 reopened" in page


def test_a_case_outcome_for_another_merchants_payment_or_by_finance_is_refused(console):
    client = console.login("risk")
    theirs = console.payment(console.merchant_b)
    token = console.csrf_of(client.get("/console/risk").text)
    r = client.post("/console/risk/reports", data={"csrf_token": token, "payment_id": str(theirs), "verdict": "fraud",
                                                   "reason": "not mine"})
    assert r.status_code == 404 and 'id="report-error"' in r.text
    mine = console.payment(console.merchant_a)
    bad = client.post("/console/risk/reports", data={"csrf_token": token, "payment_id": str(mine), "verdict": "maybe",
                                                     "reason": "x"})
    assert bad.status_code == 422 and "verdict must be one of" in bad.text
    finance = console.login("finance")
    ftoken = console.csrf_of(finance.get("/console/").text)
    assert finance.post("/console/risk/reports", data={"csrf_token": ftoken, "payment_id": str(theirs),
                                                       "verdict": "fraud", "reason": "x"}).status_code == 403
