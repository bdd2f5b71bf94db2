"""FX cost against mid: the desks' prices worked by hand, netting that leaves nothing to convert,
a day's report from the desks sandbox (before ≥ best desk > after), the day's flows read from
the payments, and the API and CLI answers."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from juhe.api.app import create_app
from juhe.cli import app as cli
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.merchants import create_merchant, issue_api_key
from juhe.payments.models import Payment
from juhe.treasury import fx_cost, fx_desks
from juhe.treasury.fx_cost import BUY, SELL, Flow
from juhe.treasury.fx_desks import DESKS, DeskQuote

DAY = date(2026, 3, 2)
CST = timezone(timedelta(hours=8))
IN_SESSION, AT_NIGHT = datetime(2026, 3, 2, 11, tzinfo=CST), datetime(2026, 3, 2, 22, tzinfo=CST)
DESK = {d.code: d for d in DESKS}


@pytest.fixture(scope="module")
def desks():
    server = fx_desks.start()
    yield server.base_url
    server.stop()


def test_desks_price_by_size_and_hour():
    assert fx_desks.spread_bps(DESK["sndb"], Fraction(500), IN_SESSION) == 30
    assert fx_desks.spread_bps(DESK["sndb"], Fraction(500), AT_NIGHT) == 45
    assert fx_desks.spread_bps(DESK["bank-b"], Fraction(2_000_000), IN_SESSION) == 12
    assert fx_desks.spread_bps(DESK["ecn"], Fraction(49_999), IN_SESSION) is None  # below its minimum ticket
    assert fx_desks.spread_bps(DESK["ecn"], Fraction(50_000), AT_NIGHT) == 30
    assert fx_desks.usd_size("HKD", 718_500) == Fraction(718_500, 100) * Fraction("0.9210") / Fraction("7.1850")


def test_the_cost_is_what_the_spread_kept_at_mid():
    # selling USD 10,000.00 at 30 bps: mid 7.185 CNY, dealt at 7.16344 (cut to 6 digits)
    rate = fx_desks.dealing_rate("USD", "CNY", 30)
    assert rate == Decimal("7.16344")
    quote = DeskQuote("sndb", Decimal("7.1850"), rate, 30)
    assert fx_cost.notional_minor("USD", SELL, 1_000_000, quote) == 7_185_000
    assert fx_cost.cost_minor("USD", SELL, 1_000_000, quote) == Fraction(7_185_000) - 7_163_440  # CNY 215.60


def test_flows_that_net_to_nothing_convert_nothing(desks):
    flows = [Flow(AT_NIGHT, "USD", SELL, 500_000), Flow(IN_SESSION, "USD", BUY, 500_000)]
    answer = fx_cost.report(flows, desks)
    assert answer["before_cost_minor"] > 0 and answer["after_cost_minor"] == 0 and answer["reduction"] == 1.0
    assert answer["pairs"][0]["net_minor"] == 0 and answer["pairs"][0]["dealt"] is None


def test_a_days_report_compares_desks_times_and_netting(desks):
    answer = fx_cost.report(fx_cost.sample_day(DAY, seed=1), desks)
    assert answer["flows"] == 503 and [p["pair"] for p in answer["pairs"]] == ["EUR/CNY", "HKD/CNY", "USD/CNY"]
    assert answer["gross_minor"] == sum(p["gross_minor"] for p in answer["pairs"])
    assert answer["before_bps"] >= answer["best_desk_bps"] > answer["after_bps"] > 0
    assert answer["before_bps"] > answer["timed_bps"] > answer["netted_bps"] >= answer["after_bps"]  # timing, netting, desks
    assert answer["reduction"] == round(1 - answer["after_cost_minor"] / answer["before_cost_minor"], 4)
    for pair in answer["pairs"]:
        assert pair["net_minor"] == abs(pair["bought_minor"] - pair["sold_minor"])
        assert fx_desks.in_session(datetime.fromisoformat(pair["dealt"]["at"]))
    usd = answer["pairs"][2]
    assert usd["dealt"]["desk"] == "ecn"  # the net is big enough for the platform's ticket, the cheapest quote


def test_the_days_flows_are_the_payments_converted_from_cny(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/juhe.db")
    paid = datetime(2026, 3, 2, 3, tzinfo=timezone.utc)
    with db.session() as session, session.begin():
        merchant = create_merchant(session, "Silk Road", "ecommerce").id
        for n, (currency, meta, at) in enumerate((("USD", {"fx": {"rate": "0.139"}}, paid), ("USD", {}, paid),
                                                  ("EUR", {"fx": {"rate": "0.128"}}, paid + timedelta(days=1)))):
            session.add(Payment(merchant_id=merchant, idempotency_key=f"k{n}", request_hash="0" * 64, amount_minor=100_000,
                                currency=currency, scenario="crossborder", subject="supplier", status="succeeded",
                                channel="crossborder", meta=meta, paid_at=at, expires_at=at + timedelta(hours=1)))
    with db.reader() as session:
        assert fx_cost.flows_of_day(session, DAY, merchant) == [Flow(paid, "USD", BUY, 100_000)]
    db.dispose()


def test_the_api_and_the_cli_answer_with_the_report(desks, sqlite_url, monkeypatch, tmp_path):
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    db = Database(sqlite_url)
    with db.session() as session, session.begin():
        key = issue_api_key(session, create_merchant(session, "Silk Road", "ecommerce").id, "fx", ["finance"])[1]
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(db)) as client:
        r = client.get("/v1/fx/cost", headers=auth)
        assert r.status_code == 503 and r.json()["code"] == "fx_desks_not_configured"
        monkeypatch.setenv("JUHE_FX_DESKS_URL", desks)
        get_settings.cache_clear()
        answer = client.get("/v1/fx/cost", params={"day": DAY.isoformat(), "sample_seed": 1}, headers=auth).json()
        assert answer["flows"] == 503 and answer["after_bps"] < answer["before_bps"]
        assert client.get("/v1/fx/cost", params={"day": DAY.isoformat()}, headers=auth).json()["flows"] == 0
    r = CliRunner().invoke(cli, ["treasury", "fx-cost", "--day", DAY.isoformat(), "--sample-seed", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["reduction"] == answer["reduction"]
    db.dispose()
    get_settings.cache_clear()
