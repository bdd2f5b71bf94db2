"""`juhe treasury scf`: confirm, offers, accept and the report as the CLI prints them, a refusal
as a message with exit status 2, and the demo's book (seeded once, every financing in the ledger)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from juhe.cli import app
from juhe.db.engine import Database
from juhe.db.models import Account
from juhe.db.types import utcnow
from juhe.ledger import verify_ledger
from juhe.scf.demo import seed
from juhe.scf.models import ScfFinancing
from juhe.scf.postings import RECEIVABLE

from tests.treasury.conftest import FACE


def juhe(scf, *args):
    return CliRunner().invoke(app, ["treasury", "scf", *args, "--database-url", str(scf.db.engine.url)])


def test_the_cli_confirms_offers_accepts_and_reports(scf):
    order = str(scf.invoiced_order())
    maturity = (utcnow() + timedelta(days=45)).date().isoformat()
    r = juhe(scf, "confirm", "--merchant", str(scf.buyer), "--order", order, "--maturity", maturity)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["face_minor"] == FACE
    r = juhe(scf, "offers", "--merchant", str(scf.supplier), "--order", order, "--json")
    offers = json.loads(r.output)["offers"]
    assert [o["apr_bps"] for o in offers] == sorted(o["apr_bps"] for o in offers) and len(offers) == 3
    r = juhe(scf, "accept", "--merchant", str(scf.supplier), "--order", order, "--offer-of", "cmb")
    assert r.exit_code == 0, r.output
    financing = json.loads(r.output)
    assert scf.balance(RECEIVABLE) == FACE and scf.payable(scf.supplier) == financing["net_minor"]
    again = juhe(scf, "accept", "--merchant", str(scf.supplier), "--order", order, "--offer-of", "buyer")
    assert again.exit_code == 2 and "receivable_already_financed" in again.output
    report = json.loads(juhe(scf, "report", "--merchant", str(scf.supplier), "--json").output)
    assert report["financings"] == 1 and report["cost_minor"] == financing["discount_minor"] + financing["fee_minor"]
    assert report["by_kind"]["reverse_factoring"]["saving"] == report["saving"] > 0


def test_the_demo_book_is_seeded_once_and_every_financing_is_in_the_ledger(tax_platform, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "data"))
    db = Database(sqlite_url)
    first = seed(db, tax_platform, utcnow(), suppliers=2, orders_each=2)
    again = seed(db, tax_platform, utcnow())
    assert first["seeded"] and not again["seeded"] and len(first["console_logins"]) == 3
    assert first["financings"] == again["financings"] == 4 and first["cost_minor"] == again["cost_minor"]
    assert 0 < first["saving"] < 1 and first["cost_minor"] < first["market_cost_minor"]
    with db.reader() as session:
        advanced = sum(f.amount_minor for f in session.scalars(select(ScfFinancing).where(ScfFinancing.status == "advanced")))
    with db.engine.connect() as conn, conn.begin():
        assert verify_ledger(conn).ok
    with db.reader() as session:
        receivable = session.scalar(select(Account).where(Account.code == RECEIVABLE))
        assert (receivable.debits_posted - receivable.credits_posted if receivable else 0) == advanced
    db.dispose()
