"""AML cases: decisions follow the rules, every change is audited, closed cases stay closed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from juhe.aml.alerts import Alert
from juhe.aml.cases import add_comment, decide, open_case, open_cases, reassign
from juhe.aml.errors import AmlError

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=timezone.utc)


def alert(account="AC1", scenario="structuring", ids=("m1", "m2", "m3"), alert_id="a1"):
    return Alert(alert_id=alert_id, scenario=scenario, account_id=account, currency="CNY", window_start=T0,
                 window_end=T0 + timedelta(hours=5), movement_ids=ids, score=0.6, reason="three deposits just below")


def later(hours):
    return T0 + timedelta(hours=hours)


@pytest.fixture
def case():
    return open_case([alert(), alert(scenario="fan_in", ids=("m3", "m4"), alert_id="a2")],
                     owner="li.analyst", actor="system", at=T0)


def test_opened_case_is_pending_with_its_evidence_and_an_audit_entry(case):
    assert case.decision == "pending" and case.owner == "li.analyst" and case.account_id == "AC1"
    assert case.evidence == ("m1", "m2", "m3", "m4") and case.scenarios == ("structuring", "fan_in")
    [opened] = case.audit
    assert (opened.actor, opened.action, opened.after, opened.at) == ("system", "opened", "pending", T0)


def test_case_id_is_stable_for_the_same_alerts(case):
    again = open_case([alert(scenario="fan_in", ids=("m3", "m4"), alert_id="a2"), alert()],
                      owner="someone.else", actor="system", at=later(1))
    assert again.case_id == case.case_id


def test_escalate_then_report_records_who_what_when(case):
    escalated = decide(case, "escalated", actor="li.analyst", reason="amounts hug the threshold", at=later(1))
    reported = decide(escalated, "reported", actor="wang.mlro", reason="no business reason given", at=later(2))
    assert reported.decision == "reported" and reported.decision_reason == "no business reason given"
    moves = [(e.actor, e.before, e.after, e.at) for e in reported.audit if e.action == "decision"]
    assert moves == [("li.analyst", "pending", "escalated", later(1)), ("wang.mlro", "escalated", "reported", later(2))]


@pytest.mark.parametrize("path", [["dismissed"], ["escalated", "dismissed"]])
def test_dismissal_from_pending_or_escalated(case, path):
    for step, decision in enumerate(path, start=1):
        case = decide(case, decision, actor="li.analyst", reason=f"step {step}", at=later(step))
    assert case.decision == "dismissed"


@pytest.mark.parametrize("path, illegal", [
    ([], "reported"),  # a report needs an escalation first
    ([], "pending"),
    (["escalated"], "escalated"),
    (["escalated"], "pending"),
])
def test_illegal_transitions_raise_and_change_nothing(case, path, illegal):
    for step, decision in enumerate(path, start=1):
        case = decide(case, decision, actor="li.analyst", reason="why", at=later(step))
    before = case
    with pytest.raises(AmlError) as raised:
        decide(case, illegal, actor="li.analyst", reason="why", at=later(9))
    assert raised.value.code == "illegal_transition"
    assert case == before and len(case.audit) == 1 + len(path)


@pytest.mark.parametrize("final", ["reported", "dismissed"])
def test_closed_case_takes_no_changes(case, final):
    if final == "reported":
        case = decide(case, "escalated", actor="a", reason="r", at=later(1))
    case = decide(case, final, actor="b", reason="r", at=later(2))
    for change in (lambda: decide(case, "pending", actor="c", reason="r", at=later(3)),
                   lambda: reassign(case, "zhao", actor="c", at=later(3)),
                   lambda: add_comment(case, "more", actor="c", at=later(3))):
        with pytest.raises(AmlError) as raised:
            change()
        assert raised.value.code in {"case_closed", "illegal_transition"}


def test_reassign_and_comment_are_audited(case):
    case = reassign(case, "zhao.analyst", actor="team.lead", at=later(1))
    case = add_comment(case, "asked the merchant for invoices", actor="zhao.analyst", at=later(2))
    assert case.owner == "zhao.analyst"
    assert [(c.author, c.text) for c in case.comments] == [("zhao.analyst", "asked the merchant for invoices")]
    assert [(e.action, e.before, e.after) for e in case.audit[1:]] == [
        ("owner", "li.analyst", "zhao.analyst"), ("comment", None, None)]


@pytest.mark.parametrize("change, code", [
    (lambda c: decide(c, "escalated", actor="a", reason="  ", at=later(1)), "invalid_case_change"),
    (lambda c: decide(c, "escalated", actor="", reason="r", at=later(1)), "invalid_case_change"),
    (lambda c: decide(c, "frozen", actor="a", reason="r", at=later(1)), "unknown_decision"),
    (lambda c: decide(c, "escalated", actor="a", reason="r", at=later(-1)), "audit_out_of_order"),
    (lambda c: decide(c, "escalated", actor="a", reason="r", at=datetime(2025, 6, 1)), "invalid_case_change"),
    (lambda c: add_comment(c, "x" * 4001, actor="a", at=later(1)), "invalid_case_change"),
    (lambda c: reassign(c, "li.analyst", actor="a", at=later(1)), "no_change"),
])
def test_bad_changes_are_clear_errors(case, change, code):
    with pytest.raises(AmlError) as raised:
        change(case)
    assert raised.value.code == code


def test_open_cases_gathers_alerts_per_account():
    alerts = [alert("AC1", alert_id="a1"), alert("AC2", alert_id="a2"), alert("AC1", "fan_in", ("m9",), "a3")]
    cases = open_cases(alerts, owner="li", actor="system", at=T0)
    assert [(c.account_id, [a.alert_id for a in c.alerts]) for c in cases] == [("AC1", ["a1", "a3"]), ("AC2", ["a2"])]


def test_a_case_is_about_one_account_and_needs_an_alert():
    with pytest.raises(AmlError) as raised:
        open_case([alert("AC1"), alert("AC2", alert_id="a2")], owner="li", actor="system", at=T0)
    assert raised.value.code == "mixed_accounts"
    with pytest.raises(AmlError) as raised:
        open_case([], owner="li", actor="system", at=T0)
    assert raised.value.code == "no_alerts"


def test_case_json_lists_audit_in_order(case):
    case = decide(case, "escalated", actor="li", reason="r", at=later(1))
    data = case.to_json()
    assert [e["action"] for e in data["audit"]] == ["opened", "decision"]
    assert data["evidence"] == ["m1", "m2", "m3", "m4"] and data["alerts"][0]["alert_id"] == "a1"
