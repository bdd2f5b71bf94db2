"""What each role may open and do follows the one table in juhe.console.permissions, for pages and
for the POSTs behind their buttons; a merchant sees only its own payments; the operator sees all."""

from __future__ import annotations

import pytest

from juhe.console.permissions import PERMISSIONS, allows


def test_the_table_says_what_the_issue_asks():
    assert not allows("finance", "risk.rules.edit")
    assert not allows("business", "recon.resolve")
    assert all(allows("it", p) for p in ("developers.view", "developers.manage"))
    assert not allows("it", "payments.refund") and not allows("risk", "payments.refund")
    assert all(allows("admin", p) for p in PERMISSIONS)  # a merchant's admin may do all of it
    assert not allows("operator", "payments.refund")  # the platform never moves a merchant's money


@pytest.mark.parametrize("role", ["admin", "finance", "business", "risk"])
def test_roles_with_payments_view_open_the_payments_page(console, role):
    console.payment(console.merchant_a, subject="Oolong tea")
    page = console.login(role).get("/console/payments")
    assert page.status_code == 200 and "Oolong tea" in page.text


def test_it_cannot_open_payments_nor_a_payment(console):
    payment_id = console.payment(console.merchant_a)
    client = console.login("it")
    assert client.get("/console/payments").status_code == 403
    denied = client.get(f"/console/payments/{payment_id}")
    assert denied.status_code == 403 and "may not" in denied.text
    assert 'href="/console/payments"' not in client.get("/console/").text  # nor sees the link


def test_risk_sees_a_payment_but_not_its_refund_button_and_its_refund_post_is_refused(console):
    payment_id = console.payment(console.merchant_a)
    client = console.login("risk")
    page = client.get(f"/console/payments/{payment_id}")
    assert page.status_code == 200 and "refund-form" not in page.text
    token = console.csrf_of(page.text)
    r = client.post(f"/console/payments/{payment_id}/refund", data={"csrf_token": token, "idempotency_key": "k" * 16})
    assert r.status_code == 403
    assert _refunded(console, payment_id) == 0


def test_a_refund_post_without_the_csrf_token_is_refused(console):
    payment_id = console.payment(console.merchant_a)
    client = console.login("business")
    assert "refund-form" in client.get(f"/console/payments/{payment_id}").text
    r = client.post(f"/console/payments/{payment_id}/refund", data={"idempotency_key": "k" * 16, "amount": "1.00"})
    assert r.status_code == 403
    assert _refunded(console, payment_id) == 0


def test_another_merchants_payment_is_not_found_and_not_refundable(console):
    theirs = console.payment(console.merchant_b, subject="Silk scarf")
    client = console.login("business")
    assert "Silk scarf" not in client.get("/console/payments").text
    page = client.get(f"/console/payments/{theirs}")
    assert page.status_code == 404
    token = console.csrf_of(client.get("/console/").text)
    r = client.post(f"/console/payments/{theirs}/refund", data={"csrf_token": token, "idempotency_key": "k" * 16})
    assert r.status_code == 403 and _refunded(console, theirs) == 0


def test_the_operator_sees_every_merchants_payments(console):
    console.payment(console.merchant_a, subject="Green tea")
    console.payment(console.merchant_b, subject="Silk scarf")
    page = console.login("operator").get("/console/payments")
    assert "Green tea" in page.text and "Silk scarf" in page.text


def test_a_bad_refund_amount_is_shown_and_changes_nothing(console):
    payment_id = console.payment(console.merchant_a, amount_minor=1288)
    client = console.login("finance")
    token = console.csrf_of(client.get(f"/console/payments/{payment_id}").text)
    for amount in ("12.345", "abc", "99.00"):
        r = client.post(f"/console/payments/{payment_id}/refund",
                        data={"csrf_token": token, "idempotency_key": f"refund-key-{amount}", "amount": amount})
        assert r.status_code == 303 and "error=" in r.headers["location"], (amount, r.text)
    assert "refund-error" in client.get(r.headers["location"]).text
    assert _refunded(console, payment_id) == 0


def test_the_payments_search_filters_by_status_and_text(console):
    console.payment(console.merchant_a, subject="Jasmine tea", status="failed")
    console.payment(console.merchant_a, subject="Puer tea", status="succeeded")
    client = console.login("finance")
    failed = client.get("/console/payments", params={"status": "failed"}).text
    assert "Jasmine tea" in failed and "Puer tea" not in failed
    found = client.get("/console/payments", params={"q": "Puer"}).text
    assert "Puer tea" in found and "Jasmine tea" not in found


def test_the_overview_shows_balances_and_the_recent_payments_fragment(console):
    console.payment(console.merchant_a, subject="Longjing tea")
    client = console.login("finance")
    page = client.get("/console/")
    assert page.status_code == 200 and 'id="balances"' in page.text and "chart-4.6.2" in page.text
    assert "Longjing tea" in client.get("/console/recent-payments").text
    assert client.get("/console/static/vendor/htmx-2.0.11.min.js").status_code == 200


def _refunded(console, payment_id) -> int:
    from juhe.payments.models import Refund
    from sqlalchemy import func, select

    with console.db.reader() as session:
        return session.scalar(select(func.count()).select_from(Refund).where(Refund.payment_id == payment_id))


def test_the_overview_lists_open_incidents_with_their_deadline_and_marks_the_overdue(console):
    from datetime import timedelta

    from juhe.db.types import utcnow
    from juhe.monitor.alerts import raise_alert

    with console.db.session() as session, session.begin():  # raised two days ago: its 24 h deadline has passed
        raise_alert(session.connection(), "recon_difference", console.merchant_a, "alipay 2026-12-01: 1 open case",
                    {}, "console-test-1", now=utcnow() - timedelta(days=2))
        raise_alert(session.connection(), "recon_difference", console.merchant_b, "Silk Road's own alert", {}, "console-test-2")
    page = console.login("finance").get("/console/").text
    assert "alipay 2026-12-01: 1 open case" in page and 'class="overdue"' in page
    assert "Silk Road's own alert" not in page
