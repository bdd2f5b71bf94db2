"""Supply-chain finance in the console, in headless Chromium (as tests/console/test_console_browser.py):
the buyer confirms an invoiced order with its maturity, the supplier compares the offers and takes
one, a stale offer on another receivable is refused once a funder financed it, the funder sees
what it advanced, the buyer cannot repay before maturity; the ledger stays balanced throughout.
Screenshots go to tmp/artefacts/console/ as the console's other browser tests do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from juhe.api.app import create_app
from juhe.audit.models import AuditRecord
from juhe.channels.simkit import ServerThread
from juhe.config import get_settings
from juhe.console.users import add_user
from juhe.db.types import utcnow
from juhe.scf import service
from juhe.scf.postings import RECEIVABLE

from tests.browser import PASSWORD, chromium, logged_in, screenshot
from tests.treasury.conftest import FACE, RATES



@pytest.fixture
def site(scf, monkeypatch):
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    get_settings.cache_clear()
    with scf.db.session() as session, session.begin():
        add_user(session, "buyer@scf", "Buyer AP clerk", "finance", PASSWORD, scf.buyer)
        add_user(session, "supplier@scf", "Supplier owner", "business", PASSWORD, scf.supplier)
        add_user(session, "icbc@scf", "ICBC SCF desk", "business", PASSWORD, scf.funders["icbc"])
    server = ServerThread(create_app(scf.db)).start()
    yield server.base_url
    server.stop()
    get_settings.cache_clear()


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


def _as(browser, base: str, login: str):
    page = logged_in(browser, base, login, width=1400)
    assert "Supply-chain finance" in page.inner_text("header nav")
    page.goto(f"{base}/console/scf")
    return page


def test_buyer_confirms_supplier_takes_an_offer_and_the_funder_sees_it(browser, site, scf):
    order, other = scf.invoiced_order(), scf.invoiced_order()
    maturity = (service.local_date(utcnow()) + timedelta(days=60)).isoformat()
    buyer = _as(browser, site, "buyer@scf")
    for order_id in (order, other):
        row = f"#to-confirm tr[data-order='{order_id}']"
        buyer.fill(f"{row} input[name=maturity_on]", maturity)
        buyer.click(f"{row} button")
        buyer.wait_for_selector(f"#receivables tr[data-receivable='{order_id}']")
    assert buyer.locator("#to-confirm tr[data-order]").count() == 0
    screenshot(buyer, "scf-buyer")

    supplier = _as(browser, site, "supplier@scf")
    offers = supplier.locator(f"tr[data-receivable='{order}'] tr[data-offer]")
    assert sorted(offers.evaluate_all("rows => rows.map(r => r.dataset.offer)")) == ["buyer", "cmb", "icbc"]
    screenshot(supplier, "scf-supplier-offers")
    supplier.click(f"tr[data-receivable='{order}'] tr[data-offer='icbc'] button")
    supplier.wait_for_selector("#financings tr[data-financing] >> text=advanced")
    assert "Financed" in supplier.inner_text(f"tr[data-receivable='{order}']")
    assert supplier.is_visible("#cost-all")
    with scf.db.session() as session, session.begin():  # meanwhile the other receivable is financed by CMB
        service.accept(session, scf.supplier, other, "cmb", None, utcnow(), RATES)
    response = supplier.expect_response(lambda r: r.url.endswith("/console/scf/accept"))
    with response as answered:
        supplier.click(f"tr[data-receivable='{other}'] tr[data-offer='buyer'] button")  # a stale offer
    assert answered.value.status == 409
    assert "receivable_already_financed" in supplier.inner_text("#error")
    screenshot(supplier, "scf-supplier-financed")

    funder = _as(browser, site, "icbc@scf")
    assert funder.locator("#financings tr[data-financing]").count() == 1
    assert "advanced" in funder.inner_text("#financings")
    screenshot(funder, "scf-funder")

    buyer.reload()
    assert buyer.locator("#financings tr[data-financing]").count() == 2
    buyer.locator("#financings button").first.click()
    buyer.wait_for_selector("#error")
    assert "financing_not_due" in buyer.inner_text("#error")
    assert scf.balance(RECEIVABLE) == 2 * FACE and scf.ledger_ok()
    with scf.db.reader() as session:
        actions = session.scalars(select(AuditRecord.action).where(AuditRecord.actor.like("console:%@scf"),
                                                                   AuditRecord.action.like("scf_%"))).all()
    assert sorted(actions) == ["scf_financing.accept", "scf_receivable.confirm", "scf_receivable.confirm"]
