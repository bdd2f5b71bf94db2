"""`juhe simulate`: days of the retailer's business through the payments core with a moved clock,
each closed by reconciliation, settlement and the reserve proof; what it leaves is real books."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from juhe.api.app import create_app
from juhe.cli import app
from juhe.config import get_settings
from juhe.console.users import add_user
from juhe.db.engine import Database
from juhe.ledger import verify_ledger
from juhe.payments.models import Payment
from juhe.recon.models import ReconRun
from juhe.settlement.models import SettlementBatch
from juhe.simulation.business import BEIJING, MIX, plan_day
from juhe.simulation.commands import DEFAULT_SEED

FIRST_DAY = date(2026, 12, 1)  # a Tuesday and a Wednesday: the second settles the first (T+1)
PASSWORD = "correct horse 1"


def test_a_planned_day_is_the_same_for_the_same_seed_and_has_every_kind_of_sale():
    day = plan_day(FIRST_DAY, seed=7, payments_per_day=400)
    assert day == plan_day(FIRST_DAY, seed=7, payments_per_day=400)
    assert day != plan_day(FIRST_DAY, seed=8, payments_per_day=400)
    kinds = {sale.kind for sale in day.sales}
    assert kinds == set(MIX) | {"b2b"}
    assert [s.at for s in day.sales] == sorted(s.at for s in day.sales)
    assert all(s.at.astimezone(BEIJING).date() == FIRST_DAY for s in day.sales)  # bills and books cut the day alike
    assert all(s.amount_minor > 0 and 0 <= s.refund_minor <= s.amount_minor for s in day.sales)
    assert len({s.key for s in day.sales}) == len(day.sales)


def test_a_saturday_has_no_supplier_batch_and_more_customers():
    saturday = plan_day(date(2026, 12, 5), seed=7, payments_per_day=400, working_day=False)
    assert "b2b" not in {sale.kind for sale in saturday.sales}
    assert len(saturday.sales) == 500


@pytest.fixture
def simulated(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/juhe.db"
    monkeypatch.setenv("JUHE_DATABASE_URL", url)
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["simulate", "--days", "2", "--first-day", FIRST_DAY.isoformat(),
                                      "--payments-per-day", "30", "--json"])
    assert result.exit_code == 0, result.output
    yield json.loads(result.stdout.strip().splitlines()[-1]), Database(url, migrate=False)
    get_settings.cache_clear()


def test_two_simulated_days_leave_verified_books_reconciled_settled_and_proven(simulated):
    figures, db = simulated
    # Every sale makes a payment but a membership sign-up and a BNPL basket bought on the line or left.
    planned = [sale for offset in (0, 1) for sale in plan_day(FIRST_DAY + timedelta(days=offset), DEFAULT_SEED, 30).sales
               if sale.kind not in ("b2b", "subscribe") and not (sale.kind == "bnpl" and not sale.extra["within_means"])]
    assert figures["payments"] == len(planned) - sum(n for code, n in figures["refused"].items() if code != "insufficient_funds")
    assert figures["by_status"]["succeeded"] >= 0.85 * figures["payments"]
    assert figures["recon_days"] == 2 and figures["recon_runs"] == 12  # six channels a day
    assert figures["settlement_batches"] >= 1  # the Wednesday pays out Tuesday's takings
    assert figures["reserve_proven_days"] == 2
    # Aggregated codes and BNPL checkouts from the first day (lines need weeks of history: test_scenarios.py);
    # payers rate on their receipt pages.
    assert figures["qr_code_payments"] > 0 and figures["till_codes"] > 0
    assert figures["bnpl"]["checkouts_offered"] + figures["bnpl"]["checkouts_not_offered"] > 0
    assert figures["satisfaction"]["ratings"] > 0 and 1 <= figures["satisfaction"]["mean_score"] <= 5
    # The suppliers on each working day; a small run's web shop may not have taken enough by then.
    assert figures["transfer_batches"] >= 1 and figures["transfer_batches"] + figures["refused"].get("insufficient_funds", 0) == 2
    with db.engine.connect() as conn:
        assert verify_ledger(conn).ok
    with db.reader() as session:
        days = {p.created_at.astimezone(BEIJING).date() for p in session.scalars(select(Payment))}
        runs = {(r.channel, r.business_date) for r in session.scalars(select(ReconRun))}
    assert days == {FIRST_DAY, FIRST_DAY + timedelta(days=1)}  # the moved clock, not today's
    assert {c for c, _ in runs} == {"alipay", "wechatpay", "unionpay", "facepay", "pos", "bank"}
    db.dispose()


def test_the_console_shows_the_simulated_business(simulated, monkeypatch):
    figures, db = simulated
    with db.session() as session, session.begin():
        merchant_id = session.scalar(select(Payment.merchant_id).limit(1))
        add_user(session, "finance@sim", "Finance", "finance", PASSWORD, merchant_id)
        add_user(session, "operator@sim", "Operator", "operator", PASSWORD, None)
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    get_settings.cache_clear()
    with TestClient(create_app(db), follow_redirects=False) as client:
        finance = _logged_in(client, "finance@sim")
        assert "sale at sh-01" in finance.get("/console/payments").text or "sale at bj-01" in finance.get("/console/payments").text
        settlement = finance.get("/console/settlement").text
        assert re.search(r"paid|held|submitted", settlement)
        with db.reader() as session:
            batch_id = session.scalar(select(SettlementBatch.id).limit(1))
        statement = finance.get(f"/console/settlement/{batch_id}/statement.csv")
        assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
        assert len(statement.text.strip().splitlines()) >= 3  # a header, the items, the total
        operator = _logged_in(client, "operator@sim")
        recon = operator.get("/console/recon").text
        assert FIRST_DAY.isoformat() in recon and "wechatpay" in recon
        with db.session() as session, session.begin():
            add_user(session, "business@sim", "Business", "business", PASSWORD, merchant_id)
        business = _logged_in(client, "business@sim")
        assert business.get(f"/console/settlement/{batch_id}/statement.csv").status_code == 403
    db.dispose()


def _logged_in(client: TestClient, login: str) -> TestClient:
    client.cookies.clear()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/console/login", data={"login": login, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    return client


@pytest.mark.parametrize("args, message", [
    (["--first-day", "yesterday"], "--first-day must be a date"),
    (["--first-day", "2999-01-01"], "only days before today"),
])
def test_bad_options_are_refused_before_anything_is_written(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("JUHE_DATABASE_URL", f"sqlite:///{tmp_path}/juhe.db")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["simulate", "--days", "2", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "juhe.db").exists()
    get_settings.cache_clear()
