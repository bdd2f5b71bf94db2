"""Fraud reports through /v1/risk/reports: counted in the confirmed fraud of the payment's terminal,
store and merchant only from when they are filed, corrected by a later report, audited; a jump in
reported fraud at a terminal puts it under review (step-up, an alert for risk staff) until closed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from juhe.audit.models import AuditRecord
from juhe.db.types import utcnow
from juhe.monitor.models import MonitorAlert

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM and response.json()["code"] == code


def test_a_report_counts_from_when_it_is_filed_and_a_correction_takes_it_back(world):
    w = world
    stolen = w.pay(days_ago=10)
    before = w.features_now()
    assert before["terminal_frauds_known_30d"] == 0 and before["terminal_fraud_rate_7d_delayed"] == 0
    filed = w.report(stolen, external_id="CB-1", learned_on=(utcnow() - timedelta(days=1)).date().isoformat())
    assert filed.status_code == 201, filed.text
    first = filed.json()
    assert first["current"] and first["source"] == "api" and first["corrects_id"] is None and not first["replayed"]
    after = w.features_now()
    assert after["terminal_frauds_known_30d"] == 1 and after["merchant_frauds_known_30d"] == 1
    assert after["terminal_payments_7d_delayed"] == 1 and after["terminal_fraud_rate_7d_delayed"] == 1.0
    again = w.report(stolen, external_id="CB-1").json()  # the same chargeback read twice
    assert again["replayed"] and again["id"] == first["id"]
    assert w.features_now()["terminal_frauds_known_30d"] == 1
    corrected = w.report(stolen, "genuine", reason="the cardholder found the purchase").json()
    assert corrected["corrects_id"] == first["id"] and corrected["current"]
    assert w.features_now()["terminal_frauds_known_30d"] == 0
    listed = w.client.get(f"/v1/risk/reports?payment_id={stolen}", headers=w.h()).json()["data"]
    assert [(r["verdict"], r["current"]) for r in listed] == [("genuine", True), ("fraud", False)]
    with w.db.reader() as session:
        audited = session.scalars(select(AuditRecord.detail).where(AuditRecord.action == "risk.report")).all()
    assert [(d["verdict"], d["was"]) for d in audited] == [("fraud", None), ("genuine", "fraud")]


def test_reports_are_refused_for_unknown_or_foreign_payments_bad_input_and_other_roles(world):
    w = world
    mine, theirs = w.pay(2), w.pay(2, merchant=w.b)
    assert_problem(w.report(theirs), 404, "unknown_payment")
    assert_problem(w.report("01a23923-0000-7000-8000-000000000000"), 404, "unknown_payment")
    assert_problem(w.report(mine, "maybe"), 422, "bad_report")
    assert_problem(w.report(mine, source="rumour"), 422, "bad_report")
    assert_problem(w.report(mine, reason=" "), 422, "bad_report")
    assert_problem(w.report(mine, learned_on=(utcnow() + timedelta(days=2)).date().isoformat()), 422, "bad_report")
    assert_problem(w.report(mine, learned_on=(utcnow() - timedelta(days=5)).date().isoformat()), 422, "bad_report")
    assert_problem(w.report(mine, headers=w.h(role="finance")), 403, "forbidden")
    assert_problem(w.report(mine, headers=w.platform), 422, "merchant_required")
    assert w.report(mine, headers=w.platform, merchant_id=str(w.a)).status_code == 201
    assert w.client.get("/v1/risk/reports", headers=w.h(w.b)).json()["data"] == []


def test_a_jump_in_reported_fraud_puts_the_terminal_under_review_until_risk_staff_close_it(pg_world):
    w = pg_world
    skimmed = [w.pay(days_ago=3 + n / 10) for n in range(4)]
    opened = [w.report(payment).json()["opened_reviews"] for payment in skimmed]
    assert opened[:2] == [[], []] and "terminal|T1" in opened[2]  # three reports are enough
    with w.db.reader() as session:
        alerts = session.execute(select(MonitorAlert.kind, MonitorAlert.subject)).all()
    assert ("risk_compromise", "terminal|T1") in alerts
    reviews = w.client.get("/v1/risk/reviews", headers=w.h()).json()["data"]
    assert {r["key"] for r in reviews} >= {"terminal|T1"} and w.client.get(
        "/v1/risk/reviews", headers=w.h(w.b)).json()["data"] == []
    here, there = w.pay(0), w.pay(0, terminal="T2", merchant=w.b)
    with w.db.session() as session, session.begin():
        at_terminal = w.decide(session, here, utcnow())
        elsewhere = w.decide(session, there, utcnow(), w.b)
    assert at_terminal.action == "step_up" and any("R7" in reason for reason in at_terminal.reasons)
    assert elsewhere.features["under_compromise_review"] is False
    assert_problem(w.client.post("/v1/risk/reviews/close", json={"key": "terminal|T1", "outcome": "skimmer removed"},
                                 headers=w.h(w.b)), 404, "unknown_review")
    for review in reviews:
        closed = w.client.post("/v1/risk/reviews/close", json={"key": review["key"], "outcome": "skimmer removed"},
                               headers=w.h())
        assert closed.status_code == 200, closed.text
    assert w.features_now()["under_compromise_review"] is False
    assert_problem(w.client.post("/v1/risk/reviews/close", json={"key": "terminal|T1", "outcome": "again"},
                                 headers=w.h()), 404, "unknown_review")
