"""The console's Reports page on the simulated retailer: in headless Chromium finance lists the
months and downloads October's review, whose figures are the books' (read here apart); the page
in Chinese; which roles see which reports, by menu, page and download; a period that is not one
is a 404. Screenshots under tmp/artefacts/console/."""

from __future__ import annotations

import re
import shutil
import uuid

import pytest
from fastapi.testclient import TestClient

from juhe.api.app import create_app
from juhe.channels.simkit import ServerThread
from juhe.config import get_settings
from juhe.console.users import add_user
from juhe.db.engine import Database
from tests.browser import PASSWORD, chromium, logged_in, screenshot
from tests.reports.conftest import Simulated, pdf_text
from tests.reports.test_monthly import OCTOBER_UTC

ROLES = ("finance", "business", "risk", "admin", "operator")  # admin: the 404 test


@pytest.fixture(scope="module")
def site(simulated_template, tmp_path_factory):
    """One copy of the simulated books for the module (these tests only read), a user per role."""
    folder = tmp_path_factory.mktemp("reports-console")
    shutil.copyfile(simulated_template / "juhe.db", folder / "juhe.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUHE_CHANNEL_MODE", "live")
        patch.setenv("JUHE_DATA_DIR", str(folder / "data"))
        get_settings.cache_clear()
        simulated = Simulated(f"sqlite:///{folder}/juhe.db", folder / "juhe.db", Database(f"sqlite:///{folder}/juhe.db", migrate=False))
        lotus = uuid.UUID(simulated.sql("SELECT merchant_id FROM payments LIMIT 1")[0][0])
        with simulated.db.session() as session, session.begin():
            for role in ROLES:
                add_user(session, f"{role}@lotus", role.title(), role, PASSWORD, None if role == "operator" else lotus)
        app = create_app(simulated.db)
        with TestClient(app):  # the lifespan, once
            yield simulated, app, lotus
        simulated.db.dispose()
        get_settings.cache_clear()


def _logged_in(app, role: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").text).group(1)
    assert client.post("/console/login", data={"login": f"{role}@lotus", "password": PASSWORD, "csrf_token": token}).status_code == 303
    return client


def test_finance_downloads_octobers_review_in_chromium(site):
    simulated, app, lotus = site
    (count, volume), = simulated.sql("SELECT count(*), sum(CASE WHEN status = 'succeeded' THEN amount_minor ELSE 0 END) FROM payments"
                                     " WHERE merchant_id = ? AND created_at >= ? AND created_at < ?", lotus.hex, *OCTOBER_UTC)
    with ServerThread(create_app(simulated.db)) as server, chromium() as browser:
        page = logged_in(browser, server.base_url, "finance@lotus", accept_downloads=True)
        page.click("header nav >> text=Reports")
        page.wait_for_selector("#monthly-reports")
        assert page.locator("#compliance-reports").count() == 0  # finance: not the AML and access review
        assert page.locator("#monthly-reports a.download").count() == 12
        screenshot(page, "reports-finance")
        with page.expect_download() as download:
            page.click("#monthly-reports a[data-period='2026-10']")
        assert download.value.suggested_filename == "juhe-monthly-2026-10.pdf"
        text = pdf_text(open(download.value.path(), "rb").read())
        page.goto(f"{server.base_url}/console/lang/zh")
        page.goto(f"{server.base_url}/console/reports")
        assert "月度交易复盘" in page.inner_text("#monthly-reports") or "月度交易复盘" in page.inner_text("main")
        screenshot(page, "reports-finance-zh")
    assert "商户 Merchant: Lotus Mart 莲花超市" in text
    assert f"支付笔数 Payments {count} " in text and f"成功金额 Succeeded volume {volume // 100:,}.{volume % 100:02d} " in text


def test_each_role_gets_the_reports_its_permission_names(site):
    """By menu, page and download (the PDFs made only where they are let through: they cost a second)."""
    simulated, app, lotus = site
    for role, sees, compliance in (("business", False, 403), ("finance", True, 403), ("risk", True, 200), ("operator", True, 200)):
        client = _logged_in(app, role)
        assert client.get("/console/reports").status_code == (200 if sees else 403)
        assert ('href="/console/reports"' in client.get("/console/").text) == sees
        if not sees:
            assert client.get("/console/reports/monthly/2026-10.pdf").status_code == 403
        quarter = client.get("/console/reports/compliance/2026Q3.pdf")
        assert quarter.status_code == compliance, role
        if compliance == 200:
            assert quarter.headers["content-type"] == "application/pdf"
            text = pdf_text(quarter.content)
            # The operator's is the platform's, with the reserve proofs; a merchant's is its own, without.
            assert ("商户 Merchant: platform 平台" in text) == (role == "operator")
            assert ("in the platform's report" in text) == (role != "operator")


def test_a_period_that_is_not_one_or_has_not_begun_is_not_found(site):
    _, app, _ = site
    client = _logged_in(app, "admin")
    for path in ("/console/reports/monthly/2026-13.pdf", "/console/reports/monthly/2999-01.pdf",
                 "/console/reports/compliance/2026Q9.pdf"):
        assert client.get(path).status_code == 404
