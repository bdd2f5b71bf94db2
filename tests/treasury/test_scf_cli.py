"""`juhe treasury scf`: confirm, offers, accept and the report as the CLI prints them, and a
refusal as a message with exit status 2."""

from __future__ import annotations

import json
from datetime import timedelta

from typer.testing import CliRunner

from juhe.cli import app
from juhe.db.types import utcnow
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
