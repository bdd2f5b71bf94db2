"""/v1/scf end to end on the API: the buyer confirms, the supplier compares offers and takes one,
a funder checks the order's and invoice's proofs, the buyer repays at maturity; each refusal is
problem+json with its code and leaves the books as they were."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

import juhe.api.scf
from juhe.api.app import create_app
from juhe.config import get_settings
from juhe.db.types import utcnow
from juhe.merchants import issue_api_key
from juhe.scf.postings import RECEIVABLE
from juhe.trace import heads, proofs
from juhe.trace.ingest import ingest
from juhe.trace.publisher import key_file

from tests.treasury.conftest import FACE

PROBLEM = "application/problem+json"


@pytest.fixture
def api(scf, monkeypatch):
    monkeypatch.setenv("JUHE_CHANNEL_MODE", "live")
    get_settings.cache_clear()
    keys = {}
    with scf.db.session() as session, session.begin():
        for name, merchant_id in (("supplier", scf.supplier), ("buyer", scf.buyer), *scf.funders.items()):
            keys[name] = {"Authorization": f"Bearer {issue_api_key(session, merchant_id, name, ['business'])[1]}"}
    with TestClient(create_app(scf.db)) as client:
        yield client, keys
    get_settings.cache_clear()


def post(client, path, headers, body=None):
    return client.post(path, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}, json=body)


def problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    assert response.json()["code"] == code


def books(scf) -> tuple:
    return (scf.payable(scf.supplier), scf.payable(scf.buyer), *(scf.payable(f) for f in scf.funders.values()),
            scf.balance(RECEIVABLE))


def test_confirm_offer_accept_and_repay_through_the_api(scf, api, monkeypatch):
    client, keys = api
    order_id = str(scf.invoiced_order())
    maturity = (utcnow() + timedelta(days=60)).date().isoformat()
    problem(client.get(f"/v1/scf/receivables/{order_id}/offers", headers=keys["supplier"]), 409, "receivable_not_confirmed")
    problem(post(client, "/v1/scf/receivables", keys["supplier"], {"order_id": order_id, "maturity_on": maturity}),
            403, "not_an_scf_buyer")
    r = post(client, "/v1/scf/receivables", keys["buyer"], {"order_id": order_id, "maturity_on": maturity})
    assert r.status_code == 201, r.text
    assert r.json()["face_minor"] == FACE and r.json()["financing_id"] is None
    assert [x["order_id"] for x in client.get("/v1/scf/receivables", headers=keys["supplier"]).json()["data"]] == [order_id]

    found = client.get(f"/v1/scf/receivables/{order_id}/offers", headers=keys["supplier"]).json()["data"]
    assert {o["offer_of"] for o in found} == {"buyer", "icbc", "cmb"}
    assert all(o["net_minor"] == FACE - o["discount_minor"] - o["fee_minor"] and 0 < o["saving"] < 1 for o in found)

    public_key = heads.load_or_create_key(key_file(get_settings())).public_key()
    shown = client.get(f"/v1/scf/receivables/{order_id}/proofs", headers=keys["icbc"]).json()
    for name in ("order", "invoice"):
        assert "is in the signed tree" in proofs.verify_document(shown[name], public_key)
    assert order_id in shown["order"]["record"] and order_id in shown["invoice"]["record"]

    before = books(scf)
    problem(post(client, f"/v1/scf/receivables/{order_id}/financing", keys["buyer"], {"offer_of": "icbc"}),
            404, "receivable_not_found")
    r = post(client, f"/v1/scf/receivables/{order_id}/financing", keys["supplier"], {"offer_of": "icbc"})
    assert r.status_code == 201, r.text
    financing = r.json()
    assert financing["status"] == "advanced" and scf.payable(scf.supplier) == financing["net_minor"]
    assert scf.balance(RECEIVABLE) == FACE and books(scf) != before
    after_advance = books(scf)
    problem(post(client, f"/v1/scf/receivables/{order_id}/financing", keys["supplier"], {"offer_of": "cmb"}),
            409, "receivable_already_financed")
    problem(post(client, f"/v1/scf/financings/{financing['id']}/repayment", keys["icbc"]), 404, "financing_not_found")
    problem(post(client, f"/v1/scf/financings/{financing['id']}/repayment", keys["buyer"]), 409, "financing_not_due")
    assert books(scf) == after_advance
    for party in ("supplier", "buyer", "icbc"):
        assert client.get(f"/v1/scf/financings/{financing['id']}", headers=keys[party]).status_code == 200
    problem(client.get(f"/v1/scf/financings/{financing['id']}", headers=keys["cmb"]), 404, "financing_not_found")

    ingest(scf.db)  # the worker's round: the advance's ledger transaction becomes a leaf
    shown = client.get(f"/v1/scf/receivables/{order_id}/proofs", headers=keys["buyer"]).json()
    assert "is in the signed tree" in proofs.verify_document(shown["advance"], public_key) and "repayment" not in shown
    assert f"scf:{financing['receivable_id']}:advance" in shown["advance"]["record"]

    later = utcnow() + timedelta(days=61)
    monkeypatch.setattr(juhe.api.scf, "utcnow", lambda: later)
    r = post(client, f"/v1/scf/financings/{financing['id']}/repayment", keys["buyer"])
    assert r.status_code == 200 and r.json()["status"] == "repaid"
    problem(post(client, f"/v1/scf/financings/{financing['id']}/repayment", keys["buyer"]), 409, "financing_not_outstanding")
    assert scf.balance(RECEIVABLE) == 0 and scf.ledger_ok()

    report = client.get("/v1/scf/report", headers=keys["supplier"]).json()
    assert report["financings"] == 1 and report["cost_minor"] == financing["discount_minor"] + financing["fee_minor"]
    assert report["saving"] == pytest.approx(1 - report["cost_minor"] / report["market_cost_minor"], abs=1e-4)
    assert client.get("/v1/scf/report", headers=keys["icbc"]).json()["financings"] == 0  # the funder financed nothing of its own
