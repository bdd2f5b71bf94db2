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
