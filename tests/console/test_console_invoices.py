"""Console receipts and invoices: who sees the page and who may issue (the permission table,
by page and by POST), the merchant's own receipts and invoices only, issuing through the tax
platform's sandbox with refusals shown on the page, and the issue in the audit trail."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from juhe.audit.models import AuditRecord
from juhe.db.types import utcnow
from juhe.einvoice import sandbox, service
from juhe.payments.models import PaymentEvent
from juhe.receipts import service as receipts

SELLER = dict(seller_name="莲花超市有限公司", seller_tax_id="91350100M000100Y43", item_name="*日用杂品*日用百货",
              tax_category_code="1060512990000000000", tax_rate_bps=1300, auto_issue=False)


@pytest.fixture
def tax(console):
    _, server, platform = sandbox.start()
    console.app.state.tax_platform = platform
    with console.db.session() as session, session.begin():
        service.save_settings(session, console.merchant_a, **SELLER)
    yield platform
    server.stop()


def paid(console, merchant: uuid.UUID, amount_minor: int = 1288) -> uuid.UUID:
    payment = console.payment(merchant, amount_minor)
    with console.db.session() as session, session.begin():
        session.add(PaymentEvent(merchant_id=merchant, payment_id=payment, from_status="processing", to_status="succeeded",
                                 cause="channel_notification", at=utcnow()))
    receipts.issue_due(console.db)
    return payment


def issued(console) -> list:
    with console.db.reader() as session:
        return service.of_merchant(session, console.merchant_a)


def issue(client, payment_id, buyer_name="华为技术有限公司", buyer_tax_id="914403001922038216"):
    csrf = client.cookies and csrf_of_page(client)
    return client.post("/console/invoices/issue", data={"csrf_token": csrf, "payment_id": str(payment_id),
                                                        "buyer_name": buyer_name, "buyer_tax_id": buyer_tax_id})


def csrf_of_page(client) -> str:
    text = client.get("/console/invoices").text
    return text.split('name="csrf_token" value="')[1].split('"')[0]


@pytest.mark.parametrize(("role", "sees", "issues"), [
    ("admin", True, True), ("finance", True, True), ("business", True, True), ("risk", True, False), ("it", False, False),
    ("operator", True, False),
])
def test_the_page_and_its_issue_button_follow_the_permission_table(console, tax, role, sees, issues):
    client = console.login(role)
    page = client.get("/console/invoices")
    assert page.status_code == (200 if sees else 403)
    assert ('id="issue-invoice"' in page.text) == issues
    nav = client.get("/console/").text
    assert ('href="/console/invoices"' in nav) == sees


@pytest.mark.parametrize("role", ["risk", "it", "operator"])
def test_a_role_that_may_not_issue_is_refused_by_post_and_nothing_is_issued(console, tax, role):
    payment = paid(console, console.merchant_a)
    client = console.login(role)
    csrf = console.csrf_of(client.get("/console/").text)  # the session's own token: the role alone refuses it
    r = client.post("/console/invoices/issue", data={"csrf_token": csrf, "payment_id": str(payment), "buyer_name": "张三"})
    assert r.status_code == 403
    with console.db.reader() as session:
        assert session.scalars(select(service.Invoice)).all() == []


def test_finance_issues_an_invoice_and_sees_it_with_the_receipts(console, tax):
    payment = paid(console, console.merchant_a, 128800)
    other = paid(console, console.merchant_b, 500)
    finance = console.login("finance")
    refused = issue(finance, payment, buyer_tax_id="914403001922038217")
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    assert "check character" in finance.get(refused.headers["location"]).text
    done = issue(finance, payment)
    assert done.status_code == 303 and "issued=" in done.headers["location"]
    page = finance.get(done.headers["location"]).text
    (invoice,) = issued(console)
    assert invoice.number in page and "华为技术有限公司" in page and "1288.00 CNY" in page and "148.18 CNY" in page
    assert 'id="receipts"' in page and f"/console/payments/{payment}" in page and "/receipts/" in page
    assert str(other) not in page  # another merchant's receipt
    assert finance.get(f"/console/invoices/{invoice.id}.pdf").headers["content-type"] == "application/pdf"
    assert invoice.number.encode() in finance.get(f"/console/invoices/{invoice.id}.xml").content
    assert console.login("admin").get(f"/console/invoices/{invoice.id}.pdf").status_code == 200
    with console.db.reader() as session:
        record = session.scalar(select(AuditRecord).where(AuditRecord.action == "invoice.issue"))
    assert record.actor == "console:finance@a" and record.object_id == str(invoice.id)
    again = issue(finance, payment)
    assert "error=" in again.headers["location"]


def test_another_merchants_invoice_is_not_shown(console, tax):
    payment = paid(console, console.merchant_a)
    issue(console.login("finance"), payment)
    (invoice,) = issued(console)
    b = console.client()
    page = b.get("/console/login")
    b.post("/console/login", data={"login": "admin@b", "password": "correct horse 1", "csrf_token": console.csrf_of(page.text)})
    assert b.get(f"/console/invoices/{invoice.id}.pdf").status_code == 403
    assert invoice.number not in b.get("/console/invoices").text
