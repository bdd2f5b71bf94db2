"""QR codes and installment plans in the console: who sees them, who issues a code, and the
refusals (other merchants' stores, bad amounts, missing CSRF) that change nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from juhe.db.models import Store
from juhe.installments.models import InstallmentPlan
from juhe.qrcodes.models import QrCode


def _stores(console, merchant) -> list[Store]:
    with console.db.reader() as session:
        return list(session.scalars(select(Store).where(Store.merchant_id == merchant).order_by(Store.code)))


def _codes(console) -> int:
    with console.db.reader() as session:
        return session.scalar(select(func.count()).select_from(QrCode))


def _plan(console, merchant, bearer="merchant") -> uuid.UUID:
    with console.db.session() as session, session.begin():
        plan = InstallmentPlan(merchant_id=merchant, channel="alipay", name=f"Huabei {bearer}", fee_bearer=bearer, enabled=True,
                               options=[{"periods": 3, "fee_rate_per_period": "0.006"}, {"periods": 12, "fee_rate_per_period": "0.00625"}])
        session.add(plan)
    return plan.id


def test_business_issues_a_static_code_for_a_store_and_prints_it(console):
    client = console.login("business")
    listing = client.get("/console/qr-codes")
    assert listing.status_code == 200
    mine, theirs = _stores(console, console.merchant_a), _stores(console, console.merchant_b)
    assert all(str(s.id) in listing.text for s in mine) and all(str(s.id) not in listing.text for s in theirs)
    store = mine[0]
    page = client.get(f"/console/stores/{store.id}/qr-codes")
    assert page.status_code == 200 and 'id="new-code"' in page.text
    issued = client.post(f"/console/stores/{store.id}/qr-codes",
                         data={"label": "Till 3", "amount": "12.50", "csrf_token": console.csrf_of(page.text)})
    assert issued.status_code == 303
    page = client.get(f"/console/stores/{store.id}/qr-codes")
    assert 'data-kind="static"' in page.text and "<svg" in page.text and "Till 3" in page.text and "12.50" in page.text
    with console.db.reader() as session:
        code = session.scalars(select(QrCode)).one()
    assert (code.store_id, code.amount_minor, code.label) == (store.id, 1250, "Till 3")
    assert f"/q/{code.token}" in page.text
    pdf = client.get(f"/console/qr-codes/{code.id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"/console/qr-codes/{code.id}.svg").headers["content-type"] == "image/svg+xml"


def test_finance_sees_the_codes_but_may_not_issue_one(console):
    store = _stores(console, console.merchant_a)[0]
    client = console.login("finance")
    page = client.get(f"/console/stores/{store.id}/qr-codes")
    assert page.status_code == 200 and 'id="new-code"' not in page.text
    refused = client.post(f"/console/stores/{store.id}/qr-codes", data={"label": "x", "csrf_token": console.csrf_of(page.text)})
    assert refused.status_code == 403 and _codes(console) == 0


def test_roles_without_the_pages_are_refused(console):
    store = _stores(console, console.merchant_a)[0]
    for role in ("it", "risk", "operator"):
        client = console.login(role)
        assert client.get("/console/qr-codes").status_code == 403, role
        assert client.get(f"/console/stores/{store.id}/qr-codes").status_code == 403, role
        assert client.get("/console/installments").status_code == 403, role
        assert 'href="/console/qr-codes"' not in client.get("/console/").text


def test_another_merchants_store_and_code_are_not_found_and_bad_inputs_change_nothing(console):
    theirs = _stores(console, console.merchant_b)
    mine = _stores(console, console.merchant_a)[0]
    client = console.login("business")
    token = console.csrf_of(client.get("/console/").text)
    if theirs:
        assert client.get(f"/console/stores/{theirs[0].id}/qr-codes").status_code == 404
    assert client.post(f"/console/stores/{uuid.uuid4()}/qr-codes", data={"csrf_token": token}).status_code == 404
    for amount in ("12.345", "abc", "-1"):
        bad = client.post(f"/console/stores/{mine.id}/qr-codes", data={"amount": amount, "csrf_token": token})
        assert bad.status_code == 422 and 'id="error"' in bad.text, amount
    assert client.post(f"/console/stores/{mine.id}/qr-codes", data={"label": "no csrf"}).status_code == 403
    assert _codes(console) == 0
    client.post(f"/console/stores/{mine.id}/qr-codes", data={"label": "Till 1", "csrf_token": token})
    with console.db.reader() as session:
        code_id = session.scalars(select(QrCode.id)).one()
    other = console.client()
    page = other.get("/console/login")
    other.post("/console/login", data={"login": "admin@b", "password": "correct horse 1", "csrf_token": console.csrf_of(page.text)})
    assert other.get(f"/console/qr-codes/{code_id}.pdf").status_code == 404


def test_the_installments_page_shows_each_plans_quote_with_its_apr(console):
    free = _plan(console, console.merchant_a, "merchant")
    paid = _plan(console, console.merchant_a, "payer")
    theirs = _plan(console, console.merchant_b)
    for role in ("business", "finance", "admin"):
        page = console.login(role).get("/console/installments", params={"amount": "1200.00"})
        assert page.status_code == 200, role
        assert f'data-plan="{free}"' in page.text and f'data-plan="{paid}"' in page.text and str(theirs) not in page.text
    page = console.login("business").get("/console/installments", params={"amount": "1200.00"}).text
    payer_plan = page.split(f'data-plan="{paid}"')[1].split("</section>")[0]
    three = payer_plan.split('data-periods="3"')[1].split("</tr>")[0]
    assert "407.20" in three and "1221.60" in three and "10.77 %" in three  # 1,200.00 + 0.6 % × 3, over 3 periods
    assert "0.00 %" in page.split(f'data-plan="{free}"')[1].split("</section>")[0]  # interest-free: APR 0
    bad = console.login("business").get("/console/installments", params={"amount": "abc"})
    assert bad.status_code == 422 and 'id="error"' in bad.text
