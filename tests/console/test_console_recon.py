"""Reconciliation cases in the console: finance comments, assigns, writes off and adjusts through
the recon domain (a balanced ledger transaction each); business may not, by page or by POST."""

from __future__ import annotations

from sqlalchemy import select

from juhe.db.models import LedgerTransaction
from juhe.recon.models import ReconCase, ReconCaseEvent


def _act(client, console, case_id, **form):
    token = console.csrf_of(client.get(f"/console/recon/cases/{case_id}").text)
    return client.post(f"/console/recon/cases/{case_id}/actions", data={"csrf_token": token, **form})


def _case(console, case_id) -> ReconCase:
    with console.db.reader() as session:
        return session.get(ReconCase, case_id)


def test_finance_comments_assigns_and_writes_off_a_case(console):
    case_id = console.recon_case(console.merchant_a)
    client = console.login("finance")
    assert "amount_mismatch" in client.get("/console/recon").text
    assert _act(client, console, case_id, action="comment", comment="asked Alipay").status_code == 303
    assert _act(client, console, case_id, action="assign", owner="li.na").status_code == 303
    r = _act(client, console, case_id, action="write_off", comment="below the threshold")
    assert r.status_code == 303 and "error" not in r.headers["location"]
    case = _case(console, case_id)
    assert (case.status, case.owner, case.resolution) == ("written_off", "li.na", "below the threshold")
    with console.db.reader() as session:
        txn = session.get(LedgerTransaction, case.ledger_txn_id)
        actions = session.scalars(select(ReconCaseEvent.action).where(ReconCaseEvent.case_id == case_id)).all()
        actors = set(session.scalars(select(ReconCaseEvent.actor).where(ReconCaseEvent.case_id == case_id)))
    assert txn.idempotency_key == f"recon_case:{case_id}:write_off"
    assert actions == ["comment", "assigned", "written_off"] and actors == {"console:finance@a"}
    page = client.get(f"/console/recon/cases/{case_id}").text
    assert 'id="case-write_off"' not in page and "written_off" in page  # closed: no second write-off


def test_an_adjustment_needs_an_existing_account_and_then_closes_the_case(console):
    case_id = console.recon_case(console.merchant_a)
    client = console.login("admin")
    bad = _act(client, console, case_id, action="adjust", amount="0.10", account_code="no:such", comment="fix")
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    assert "no CNY account" in client.get(bad.headers["location"]).text and _case(console, case_id).status == "open"
    ok = _act(client, console, case_id, action="adjust", amount="-0.10", account_code="expense:channel_fees", comment="fee")
    assert ok.status_code == 303 and _case(console, case_id).status == "adjusted"


def test_business_cannot_open_recon_nor_resolve_a_case(console):
    case_id = console.recon_case(console.merchant_a)
    client = console.login("business")
    assert client.get("/console/recon").status_code == 403
    assert client.get(f"/console/recon/cases/{case_id}").status_code == 403
    token = console.csrf_of(client.get("/console/").text)
    r = client.post(f"/console/recon/cases/{case_id}/actions", data={"csrf_token": token, "action": "write_off", "comment": "x"})
    assert r.status_code == 403 and _case(console, case_id).status == "open"


def test_risk_sees_cases_but_cannot_act(console):
    case_id = console.recon_case(console.merchant_a)
    client = console.login("risk")
    page = client.get(f"/console/recon/cases/{case_id}")
    assert page.status_code == 200 and 'id="case-write_off"' not in page.text
    token = console.csrf_of(page.text)
    r = client.post(f"/console/recon/cases/{case_id}/actions", data={"csrf_token": token, "action": "comment", "comment": "x"})
    assert r.status_code == 403


def test_another_merchants_case_is_not_found(console):
    theirs = console.recon_case(console.merchant_b)
    client = console.login("finance")
    assert client.get(f"/console/recon/cases/{theirs}").status_code == 404
    token = console.csrf_of(client.get("/console/").text)
    r = client.post(f"/console/recon/cases/{theirs}/actions", data={"csrf_token": token, "action": "write_off", "comment": "x"})
    assert r.status_code == 303 and "error=" in r.headers["location"] and _case(console, theirs).status == "open"


def test_the_operator_sees_runs_and_every_case(console):
    console.recon_case(console.merchant_a)
    console.recon_case(console.merchant_b)
    page = console.login("operator").get("/console/recon").text
    assert 'id="runs"' in page and page.count("amount_mismatch") >= 2


def test_case_actions_are_in_the_audit_trail_under_the_console_user(console):
    from juhe.audit.models import AuditRecord
    from juhe.audit.trail import verify

    case_id = console.recon_case(console.merchant_a)
    client = console.login("finance")
    _act(client, console, case_id, action="comment", comment="checking")
    _act(client, console, case_id, action="write_off", comment="small")
    with console.db.reader() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.object_id == str(case_id)).order_by(AuditRecord.id)).all()
        assert not verify(session).problems
    assert [(r.actor, r.action) for r in rows] == [("console:finance@a", "recon.case.comment"),
                                                   ("console:finance@a", "recon.case.write_off")]
