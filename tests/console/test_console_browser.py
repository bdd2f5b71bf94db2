"""The console in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): log in
as each role, watch the overview change when a payment succeeds, refund a payment, and prove a
role cannot reach what it must not. Every page visited is saved as a screenshot under
tmp/artefacts/console/ (JUHE_README_SCREENSHOT=1 also refreshes
docs/console-overview.png). Under CI=true a missing browser fails instead of skipping."""

from __future__ import annotations

import os
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from sqlalchemy import select

from juhe.api.app import create_app
from juhe.audit.models import AuditRecord
from juhe.channels.simkit import ServerThread, free_port
from juhe.config import Settings
from juhe.console.users import add_user
from juhe.db.engine import Database
from juhe.demo import seed_demo
from juhe.recon.models import ReconCase, ReconRun
from juhe.runtime import Runtime
from tests.browser import PASSWORD, chromium, logged_in, screenshot

README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "console-overview.png"
ROLES = ("admin", "finance", "it", "business", "risk")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """API + worker + sandboxes in a uvicorn thread, the demo merchants, a console user per role."""
    folder = tmp_path_factory.mktemp("console-site")
    url, api_port = f"sqlite:///{folder}/juhe.db", free_port()
    settings = Settings(database_url=url, data_dir=folder / "data", sandbox_base_port=0,
                        public_base_url=f"http://127.0.0.1:{api_port}", poll_initial_s=0.2, worker_interval_s=0.1)
    db = Database(url)
    demo = seed_demo(db, folder / "keys.json")
    merchant = demo["merchants"][0]
    with db.session() as session, session.begin():
        for role in ROLES:
            add_user(session, f"{role}@lotus", f"{role.title()} Lotus", role, PASSWORD, uuid.UUID(merchant["id"]))
        add_user(session, "operator@juhe", "Operator", "operator", PASSWORD, None)
    runtime = Runtime(settings, db, host_sandboxes=True)
    server = ServerThread(create_app(db, runtime, with_worker=True), api_port).start()
    yield {"base": server.base_url, "runtime": runtime, "key": merchant["api_keys"]["business"], "db": db,
           "merchant_id": uuid.UUID(merchant["id"])}
    server.stop()
    for running in runtime.sandboxes.values():
        running.stop()
    db.dispose()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def _page(browser, site, role: str):
    return logged_in(browser, site["base"], f"{role}@{'juhe' if role == 'operator' else 'lotus'}")


def _paid_payment(site, subject: str, amount_minor: int = 1288) -> str:
    with httpx.Client(base_url=site["base"], timeout=30) as api:
        r = api.post("/v1/payments", headers={"Authorization": f"Bearer {site['key']}", "Idempotency-Key": uuid.uuid4().hex},
                     json={"amount_minor": amount_minor, "currency": "CNY", "scenario": "qr", "subject": subject,
                           "preferred_channel": "alipay"})
        assert r.status_code == 201, r.text
        payment = r.json()
        sandbox = site["runtime"].sandboxes[payment["channel"]].server.base_url
        assert httpx.post(f"{sandbox}/sandbox/pay/{payment['channel_order_no']}", json={"outcome": "success"}).status_code < 300
        deadline = time.monotonic() + 30
        while api.get(f"/v1/payments/{payment['id']}", headers={"Authorization": f"Bearer {site['key']}"}).json()["status"] != "succeeded":
            assert time.monotonic() < deadline, "the payment did not succeed"
            time.sleep(0.1)
    return payment["id"]


def test_the_overview_changes_live_when_a_payment_succeeds(browser, site):
    page = _page(browser, site, "finance")
    page.wait_for_function("document.body.dataset.figuresAt")  # the event stream is connected
    before = int(page.inner_text("#tile-succeeded"))
    _paid_payment(site, "Live green tea")
    page.wait_for_function(f"Number(document.getElementById('tile-succeeded').textContent) > {before}", timeout=20_000)
    page.wait_for_selector("#recent >> text=Live green tea", timeout=20_000)  # no reload: htmx swapped it in
    screenshot(page, "overview")
    if os.environ.get("JUHE_README_SCREENSHOT") == "1":  # refreshes the README's picture; off by default, so runs leave the tree clean
        page.screenshot(path=str(README_SHOT))


def test_business_refunds_part_of_a_payment_then_the_rest(browser, site):
    payment_id = _paid_payment(site, "Refundable oolong", 2000)
    page = _page(browser, site, "business")
    page.goto(f"{site['base']}/console/payments")
    screenshot(page, "payments")
    page.click("text=Refundable oolong")
    assert page.inner_text("#refundable") == "20.00 CNY"
    page.fill("#refund-form input[name=amount]", "5.00")
    page.click("#refund-button")
    page.wait_for_selector("#refund-done")
    assert page.inner_text("#refundable") == "15.00 CNY"
    screenshot(page, "payment")
    page.click("#refund-button")  # empty amount: all that is left
    page.wait_for_selector("#refund-done")
    assert page.locator("#refund-form").count() == 0
    assert "15.00 CNY" in page.inner_text("#refunds") and "5.00 CNY" in page.inner_text("#refunds")
    assert payment_id in page.url
    with site["db"].reader() as session:
        actions = session.scalars(select(AuditRecord.action).where(AuditRecord.actor == "console:business@lotus")).all()
    assert actions.count("refund.create") == 2


@pytest.mark.parametrize("role", ROLES + ("operator",))
def test_each_role_logs_in_and_sees_only_its_pages(browser, site, role):
    page = _page(browser, site, role)
    assert page.get_attribute(".who", "data-role") == role
    nav = page.inner_text("header nav")
    screenshot(page, f"overview-{role}")
    response = page.goto(f"{site['base']}/console/payments")
    if role == "it":
        assert "Payments" not in nav and response.status == 403
        assert page.is_visible("#forbidden")
        screenshot(page, "forbidden-it")
    else:
        assert "Payments" in nav and response.status == 200
    developers = page.goto(f"{site['base']}/console/developers")
    if role in ("it", "admin"):
        assert developers.status == 200 and page.is_visible("#api-keys")
        screenshot(page, f"developers-{role}")
    else:
        assert developers.status == 403 and "Developers" not in nav
    if role == "operator":
        for name in ("settlement", "aml", "recon", "risk"):
            assert page.goto(f"{site['base']}/console/{name}").status == 200
            screenshot(page, f"{name}-operator")


def test_risk_cannot_refund_even_by_posting_the_form_itself(browser, site):
    payment_id = _paid_payment(site, "Not for risk")
    page = _page(browser, site, "risk")
    page.goto(f"{site['base']}/console/payments/{payment_id}")
    assert page.locator("#refund-form").count() == 0
    token = page.locator("header input[name=csrf_token]").get_attribute("value")
    status = page.evaluate("""async ([url, token]) => {
        const body = new URLSearchParams({csrf_token: token, idempotency_key: "forged-by-risk-0001"});
        return (await fetch(url, {method: "POST", body})).status; }""", [f"/console/payments/{payment_id}/refund", token])
    assert status == 403
    page.reload()
    assert "Not for risk" in page.inner_text("h1") and page.inner_text("#refunds").count("CNY") == 0


def _open_case(site) -> uuid.UUID:
    """An amount_mismatch the statement shows: the channel paid 0.10 less than we booked."""
    with site["db"].session() as session, session.begin():
        run = ReconRun(channel="alipay", business_date=date(2026, 11, 30), statement_sha256="0" * 64, statement_lines=1,
                       summary={"counts": {"amount_mismatch": 1}})
        session.add(run)
        session.flush()
        case = ReconCase(merchant_id=site["merchant_id"], run_id=run.id, channel="alipay", business_date=run.business_date,
                         category="amount_mismatch", reason="amount", kind="payment", order_no="20261130120000abc",
                         currency="CNY", ours_amount_minor=10_000, channel_amount_minor=9_990, status="open", owner="finance")
        session.add(case)
    return case.id


def test_finance_resolves_a_recon_case_and_business_cannot_reach_it(browser, site):
    case_id = _open_case(site)
    page = _page(browser, site, "finance")
    page.goto(f"{site['base']}/console/recon")
    screenshot(page, "recon")
    page.click(f"a[href='/console/recon/cases/{case_id}']")
    page.fill("#case-assign input[name=owner]", "li.na")
    page.click("#case-assign button")
    page.wait_for_selector("#case-owner >> text=li.na")
    page.fill("#case-write_off input[name=comment]", "0.10 below the write-off threshold")
    page.click("#case-write_off button")
    page.wait_for_selector("#case-status >> text=written_off")
    assert "0.10 below the write-off threshold" in page.inner_text("#case-events")
    screenshot(page, "recon-case")
    business = _page(browser, site, "business")
    assert "Reconciliation" not in business.inner_text("header nav")
    assert business.goto(f"{site['base']}/console/recon/cases/{case_id}").status == 403


def test_it_issues_a_key_and_registers_a_terminal_and_finance_cannot(browser, site):
    page = _page(browser, site, "it")
    page.goto(f"{site['base']}/console/developers")
    page.fill("#issue-key input[name=name]", "Till app")
    page.select_option("#issue-key select[name=role]", "business")
    page.click("#issue-key button")
    secret = page.inner_text("#secret")
    assert secret.startswith("jk_")
    with httpx.Client(base_url=site["base"], timeout=30) as api:  # the key works at once, and only as business
        assert api.get("/v1/payments", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page.fill("#add-terminal input[name=terminal_id]", "POS00088")
    page.click("#add-terminal button")
    assert len(page.inner_text("#secret")) == 32  # the MAC key to load, shown once
    page.goto(f"{site['base']}/console/developers")
    assert "POS00088" in page.inner_text("#terminals") and page.locator("#secret").count() == 0
    screenshot(page, "developers-actions")
    finance = _page(browser, site, "finance")
    assert finance.goto(f"{site['base']}/console/developers").status == 403


def test_risk_decides_an_aml_case_with_its_reason(browser, site):
    from datetime import timedelta

    from juhe.aml import case_store
    from juhe.aml.alerts import Alert
    from juhe.db.types import utcnow

    now = utcnow()
    alert = Alert(alert_id=uuid.uuid4().hex, scenario="rapid_in_out", account_id="cust-0777", currency="CNY",
                  window_start=now - timedelta(hours=3), window_end=now, movement_ids=("m7",), score=0.8,
                  reason="money in and out again within the hour")
    with site["db"].session() as session, session.begin():
        case_id = case_store.store_alerts(session, site["merchant_id"], [alert], {"m7": {}}, run_id=None, actor="system:aml",
                                          at=now).cases_opened[0]
    page = _page(browser, site, "risk")
    page.goto(f"{site['base']}/console/aml")
    form = page.locator(f"form[action='/console/aml/cases/{case_id}/decision']")
    form.locator("select[name=decision]").select_option("escalated")
    form.locator("input[name=reason]").fill("pattern of a mule account")
    form.locator("button").click()
    page.wait_for_url(f"{site['base']}/console/aml")
    assert "escalated" in page.inner_text("#aml-cases")
    screenshot(page, "aml-decided")
