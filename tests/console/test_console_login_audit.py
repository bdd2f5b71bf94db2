"""Console log-ins, good and refused, are in the audit trail (juhe.audit), as API requests are."""

from __future__ import annotations

from sqlalchemy import select

from juhe.audit.models import AuditRecord


def test_every_console_login_attempt_is_in_the_audit_trail(console):
    console.login("finance")
    client = console.client()
    page = client.get("/console/login")
    client.post("/console/login", data={"login": "finance@a", "password": "wrong password!", "csrf_token": console.csrf_of(page.text)})
    with console.db.reader() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == "console.login").order_by(AuditRecord.id)).all()
    assert [(r.actor, r.outcome, r.merchant_id) for r in rows] == [
        ("console:finance@a", "succeeded", console.merchant_a), ("console:finance@a", "refused", None)]
    assert rows[1].detail == {"code": "invalid_login"}
