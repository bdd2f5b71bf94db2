"""Merchant A's keys can never read or move merchant B's data (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def two_books(api_any):
    """Both merchants funded, each with a posting and a pending hold of its own."""
    api = api_any
    books = {}
    for tenant in (api.a, api.b):
        payable = api.payable(tenant)
        other = api.open_account(tenant, "payable:other")
        api.fund(tenant, payable, 5_000)
        posting = api.post(tenant, api.legs((payable, 100), (other, -100))).json()
        hold = api.client.post("/v1/ledger/holds", headers=tenant.h("finance", idem=f"hold-{tenant.id}"),
                               json={"debit_account_id": payable, "credit_account_id": other, "amount_minor": 200})
        assert hold.status_code == 201, hold.text
        books[tenant.id] = {"payable": payable, "other": other, "posting": posting["id"], "hold": hold.json()["id"]}
    return api, books[api.a.id], books[api.b.id]


def test_reading_another_merchants_rows_is_404(two_books):
    api, mine, theirs = two_books
    for role in ("admin", "finance", "risk"):
        h = api.a.h(role)
        for path in (f"/v1/accounts/{theirs['payable']}", f"/v1/accounts/{theirs['payable']}/balance",
                     f"/v1/ledger/transactions/{theirs['posting']}", f"/v1/ledger/transactions/{theirs['hold']}"):
            body = api.problem(api.client.get(path, headers=h), 404, "not_found")
            assert theirs["payable"] not in body["detail"]
        # ...while its own are there
        assert api.client.get(f"/v1/accounts/{mine['payable']}", headers=h).status_code == 200
        assert api.client.get(f"/v1/ledger/transactions/{mine['posting']}", headers=h).status_code == 200


def test_lists_never_include_another_merchants_rows(two_books):
    api, mine, theirs = two_books
    h = api.a.h("finance")
    accounts = api.client.get("/v1/accounts", headers=h, params={"limit": 200}).json()
    assert accounts["next_cursor"] is None
    ids = {x["id"] for x in accounts["data"]}
    assert mine["payable"] in ids and theirs["payable"] not in ids and theirs["other"] not in ids
    assert all(x["code"].split(":")[1] == api.a.id for x in accounts["data"])

    txns = api.client.get("/v1/ledger/transactions", headers=h, params={"limit": 200}).json()["data"]
    txn_ids = {t["id"] for t in txns}
    assert {mine["posting"], mine["hold"]} <= txn_ids
    assert not txn_ids & {theirs["posting"], theirs["hold"]}
    mine_accounts = ids
    assert all(e["account_id"] in mine_accounts for t in txns for e in t["entries"])
    # filtering by their account finds nothing, and pages past their rows never leak them
    r = api.client.get("/v1/ledger/transactions", headers=h, params={"account_id": theirs["payable"]})
    assert r.status_code == 200 and r.json() == {"data": [], "next_cursor": None}
    r = api.client.get("/v1/ledger/transactions", headers=h, params={"cursor": theirs["hold"]})
    assert not {t["id"] for t in r.json()["data"]} & {theirs["posting"], theirs["hold"]}
    r = api.client.get("/v1/accounts", headers=h, params={"cursor": str(uuid.UUID(int=2**128 - 1))})
    assert theirs["payable"] not in {x["id"] for x in r.json()["data"]}

    for path in ("/v1/stores", "/v1/business-lines", "/v1/api-keys"):
        mine_units = api.client.get(path, headers=api.a.h("admin")).json()["data"]
        theirs_units = api.client.get(path, headers=api.b.h("admin")).json()["data"]
        assert not {u["id"] for u in mine_units} & {u["id"] for u in theirs_units}
    assert api.client.get("/v1/merchant", headers=h).json()["id"] == api.a.id


def test_posting_with_another_merchants_account_is_404_and_moves_nothing(two_books):
    api, mine, theirs = two_books
    before = api.snapshot()
    attempts = [
        # take from their payable into mine
        api.legs((theirs["payable"], 1_000), (mine["other"], -1_000)),
        # push into their account
        api.legs((mine["payable"], 1_000), (theirs["other"], -1_000)),
        # entirely theirs
        api.legs((theirs["payable"], 1_000), (theirs["other"], -1_000)),
    ]
    for entries in attempts:
        r = api.post(api.a, entries, role="admin")
        body = api.problem(r, 404, "account_not_found")
        assert mine["payable"] not in body["detail"] and mine["other"] not in body["detail"]
    for debit, credit in ((theirs["payable"], mine["other"]), (mine["payable"], theirs["other"])):
        r = api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem=uuid.uuid4().hex),
                            json={"debit_account_id": debit, "credit_account_id": credit, "amount_minor": 10})
        api.problem(r, 404, "account_not_found")
    assert api.snapshot() == before
    assert api.balance(api.b, theirs["payable"])["posted_minor"] == 4_900


def test_resolving_or_reversing_another_merchants_transaction_is_404(two_books):
    api, _, theirs = two_books
    before = api.snapshot()
    for path, body in [
        (f"/v1/ledger/holds/{theirs['hold']}/capture", {}),
        (f"/v1/ledger/holds/{theirs['hold']}/capture", {"amount_minor": 1}),
        (f"/v1/ledger/holds/{theirs['hold']}/void", {}),
        (f"/v1/ledger/transactions/{theirs['posting']}/reverse", {}),
        (f"/v1/ledger/transactions/{theirs['hold']}/reverse", {}),
    ]:
        r = api.client.post(path, headers=api.a.h("admin", idem=uuid.uuid4().hex), json=body)
        api.problem(r, 404, "transaction_not_found")
    assert api.snapshot() == before
    hold = api.client.get(f"/v1/ledger/transactions/{theirs['hold']}", headers=api.b.h("risk")).json()
    assert hold["status"] == "pending"
    # B itself still can
    r = api.client.post(f"/v1/ledger/holds/{theirs['hold']}/void", headers=api.b.h("finance", idem="v"), json={})
    assert r.status_code == 201, r.text
