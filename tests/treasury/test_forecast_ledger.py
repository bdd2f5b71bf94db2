"""The forecast read from the ledger: a merchant's daily flows and closing balances, advice end to end, refusals."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from juhe.api.app import create_app
from juhe.channels.simkit import ServerThread
from juhe.cli import app
from juhe.config import get_settings
from juhe.console.users import add_user
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.ledger import ensure_account, payable_code, post, transfer
from juhe.merchants import create_merchant, issue_api_key
from juhe.settlement.calendar import business_date
from juhe.treasury import forecast_ledger
from juhe.treasury.advice import merchant_advice
from juhe.treasury.forecast import ForecastError
from juhe.treasury.forecast_ledger import daily_flows
from tests.browser import PASSWORD, chromium, logged_in, screenshot

FIRST = date(2026, 1, 5)  # a Monday
DAYS = 63
TODAY = FIRST + timedelta(days=DAYS)


def takings(i: int) -> int:
    day = FIRST + timedelta(days=i)
    return 1_000_000 + 400_000 * (day.weekday() >= 5) + 7_919 * (i % 5)


def book_history(db: Database, first: date = FIRST, days: int = DAYS) -> uuid.UUID:
    """Nine weeks of a shop: takings every day at noon in Beijing, a refund on Mondays, everything held paid out
    the next weekday morning; the shop keeps a float of 5,000,000 it never pays out."""
    with db.session() as session, session.begin():
        merchant_id = create_merchant(session, "测试便利店", "retail").id
        conn = session.connection()
        clearing = ensure_account(conn, "clearing:alipay", "CNY", owner_type="platform")
        reserve = ensure_account(conn, "reserve:bank", "CNY", owner_type="platform")
        payable = ensure_account(conn, payable_code(merchant_id), "CNY", merchant_id=merchant_id, no_overdraft=True,
                                 owner_type="merchant", owner_id=merchant_id)
        at = lambda i, hour: datetime.combine(first + timedelta(days=i), time(hour), timezone.utc)  # noqa: E731
        post(conn, transfer("t:float", reserve, payable, 5_000_000, merchant_id=merchant_id), now=at(-1, 4))
        held = 0
        for i in range(days + 1):  # the last day is today: in the balance, not in the history
            if (first + timedelta(days=i)).weekday() < 5 and held:
                post(conn, transfer(f"t:payout:{i}", payable, reserve, held, merchant_id=merchant_id), now=at(i, 1))
                held = 0
            post(conn, transfer(f"t:sale:{i}", clearing, payable, takings(i), merchant_id=merchant_id), now=at(i, 4))
            held += takings(i)
            if (first + timedelta(days=i)).weekday() == 0:
                post(conn, transfer(f"t:refund:{i}", payable, clearing, 30_000, merchant_id=merchant_id), now=at(i, 6))
                held -= 30_000
    return merchant_id


@pytest.fixture(params=["sqlite_url", "pg_url"])
def shop(request):
    db = Database(request.getfixturevalue(request.param))
    yield db, book_history(db)
    db.dispose()


def test_flows_and_closing_balances_are_read_per_business_day(shop):
    db, merchant_id = shop
    with db.reader() as session:
        [flows] = daily_flows(session.connection(), merchant_id, TODAY)
    assert flows.currency == "CNY" and flows.first_day == FIRST - timedelta(days=1)  # the float's day comes first
    inflow, outflow = flows.inflow_minor[1:], flows.outflow_minor[1:]
    assert inflow == tuple(takings(i) for i in range(DAYS))
    assert outflow[0] == 30_000 and outflow[1] == takings(0) - 30_000  # Monday's refund; Tuesday pays Monday out
    assert outflow[7] == 30_000 + takings(4) + takings(5) + takings(6)  # the weekend waits for Monday
    closing = [low + came for low, came in zip(flows.balance_low_minor, flows.inflow_minor)]
    assert closing[0] == 5_000_000 and flows.balance_low_minor[0] == 0  # the float came in that day
    assert all(closing[i + 1] - closing[i] == inflow[i] - outflow[i] for i in range(DAYS))
    assert flows.balance_minor == 5_000_000 + takings(DAYS) - 30_000  # today so far: the weekend paid out, a sale, a refund
    assert min(flows.balance_low_minor[1:]) == 5_000_000 - 30_000  # the float is never paid out; Monday refunds first
    assert flows.payout_minor == (0,) * (DAYS + 1)  # paid out by plain transfers here, not settlement's captures


def test_advice_from_the_ledger_places_the_float_and_keeps_the_payouts(sqlite_url):
    db = Database(sqlite_url)
    merchant_id = book_history(db)
    [advice] = merchant_advice(db, merchant_id, TODAY, models=("AutoETS",))
    db.dispose()
    placed = sum(p["amount_minor"] for p in advice["placements"])
    assert advice["balance_minor"] == 5_000_000 + takings(DAYS) - 30_000
    assert advice["cash_kept_minor"] + placed == advice["balance_minor"]
    assert 2_500_000 < placed <= 5_000_000  # most of the float, never the takings due out tomorrow
    assert advice["idle_after_minor"] < advice["idle_before_minor"] and advice["warning"] is None


def test_an_unknown_merchant_has_no_history(sqlite_url):
    db = Database(sqlite_url)
    with pytest.raises(ForecastError) as error:
        merchant_advice(db, uuid.uuid4(), TODAY)
    db.dispose()
    assert error.value.code == "no_history"


def test_the_cli_refuses_a_bad_merchant_id_and_one_without_history(sqlite_url):
    runner = CliRunner()
    bad = runner.invoke(app, ["treasury", "forecast", "--merchant", "lotus", "--database-url", sqlite_url])
    assert bad.exit_code == 2 and "merchant id" in bad.output
    Database(sqlite_url).dispose()
    unknown = runner.invoke(app, ["treasury", "advice", "--merchant", str(uuid.uuid4()), "--database-url", sqlite_url, "--json"])
    assert unknown.exit_code == 2 and "no_history" in unknown.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(unknown.stdout or "not json")  # nothing half-printed on stdout


@pytest.fixture
def live_shop(sqlite_url, tmp_path, monkeypatch):
    """The shop's nine weeks up to the real today behind the API, with a finance and an IT key and console user;
    AutoETS alone, so that a request takes a second rather than AutoARIMA's ten."""
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    monkeypatch.setattr(forecast_ledger, "CANDIDATES", ("AutoETS",))
    get_settings.cache_clear()
    today = business_date(utcnow())
    first = today - timedelta(days=today.weekday() + 63)
    db = Database(sqlite_url)
    merchant_id = book_history(db, first, (today - first).days)
    with db.session() as session, session.begin():
        keys = {role: issue_api_key(session, merchant_id, role, [role])[1] for role in ("finance", "it")}
        add_user(session, "finance@shop", "Finance", "finance", PASSWORD, merchant_id)
        add_user(session, "it@shop", "IT", "it", PASSWORD, merchant_id)
    yield db, merchant_id, keys
    db.dispose()
    get_settings.cache_clear()




def test_the_api_gives_finance_the_forecast_and_the_advice_and_refuses_others(live_shop):
    db, merchant_id, keys = live_shop
    with TestClient(create_app(db)) as client:
        auth = {"Authorization": f"Bearer {keys['finance']}"}
        advice = client.get("/v1/treasury/advice", headers=auth)
        assert advice.status_code == 200, advice.text
        [cny] = advice.json()["currencies"]
        assert advice.json()["merchant_id"] == str(merchant_id) and cny["currency"] == "CNY"
        assert sum(p["amount_minor"] for p in cny["placements"]) + cny["cash_kept_minor"] == cny["balance_minor"]
        assert cny["idle_after_minor"] < cny["idle_before_minor"]
        forecast = client.get("/v1/treasury/forecast", headers=auth).json()["currencies"][0]
        assert forecast["inflow"]["model"] == "AutoETS" and len(forecast["inflow"]["days"]) == 91
        assert len(forecast["balance"]["weeks"]) == 13 and len(forecast["unswept"]["weeks"]) == 13
        refused = client.get("/v1/treasury/advice", headers={"Authorization": f"Bearer {keys['it']}"})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        with db.session() as session, session.begin():
            newcomer = create_merchant(session, "新店", "retail").id
            _, key = issue_api_key(session, newcomer, "finance", ["finance"])
        empty = client.get("/v1/treasury/forecast", headers={"Authorization": f"Bearer {key}"})
        assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/problem+json")
        assert empty.json()["code"] == "no_history"


def test_the_console_page_shows_finance_the_advice_and_the_chart_in_chromium(live_shop):
    db, merchant_id, _ = live_shop
    server = ServerThread(create_app(db)).start()
    try:
        with chromium() as browser:
            page = logged_in(browser, server.base_url, "finance@shop")
            assert page.locator("nav a[href='/console/treasury']").count() == 1
            page.goto(f"{server.base_url}/console/treasury")
            assert "Treasury" in page.locator("h1").inner_text()
            assert page.locator("#placements tr").count() >= 2  # a heading and at least one product
            assert "→" in page.locator("#idle").inner_text()
            assert page.locator("#balance-chart polygon").count() == 1
            assert page.locator("#forecast-weeks tr").count() == 14  # a heading and 13 weeks
            screenshot(page, "treasury")
            it = logged_in(browser, server.base_url, "it@shop")
            assert it.locator("nav a[href='/console/treasury']").count() == 0
            assert it.goto(f"{server.base_url}/console/treasury").status == 403
    finally:
        server.stop()
