"""Ledger transactions, holds (two-phase transfers), reversals, listing with filters."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from juhe.db.models import LedgerTransaction


@pytest.fixture
def books(api):
    """Merchant A with its payable funded with 10,000 fen and a store payable to pay into."""
    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    api.fund(api.a, payable, 10_000)
    return api, payable, store


def test_balanced_transaction_is_201_with_entries(books):
    api, payable, store = books
    r = api.post(api.a, api.legs((payable, 1_234), (store, -1_234)), key="t-1",
                 description="store float", metadata={"ticket": "T-9"})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["idempotent-replayed"] == "false"
    txn = r.json()
    uuid.UUID(txn["id"])
    assert txn["kind"] == "posting" and txn["status"] == "posted"
    assert txn["description"] == "store float" and txn["metadata"] == {"ticket": "T-9"}
    assert txn["entries"] == [
        {"account_id": payable, "currency": "CNY", "amount_minor": 1_234},
        {"account_id": store, "currency": "CNY", "amount_minor": -1_234},
    ]
    assert txn["idempotency_key"]  # the ledger's key, derived from the Idempotency-Key
    assert api.client.get(f"/v1/ledger/transactions/{txn['id']}", headers=api.a.h("risk")).json() == txn
    assert api.balance(api.a, payable)["posted_minor"] == 10_000 - 1_234
    assert api.balance(api.a, store)["posted_minor"] == 1_234


def test_multi_leg_transaction(books):
    api, payable, store = books
    store2 = api.store_payables(api.a)[1]
    r = api.post(api.a, api.legs((payable, 300), (store, -100), (store2, -200)))
    assert r.status_code == 201, r.text
    assert sum(e["amount_minor"] for e in r.json()["entries"]) == 0
    assert len(r.json()["entries"]) == 3


def test_unbalanced_transaction_is_422_with_problems(books):
    api, payable, store = books
    before = api.snapshot()
    r = api.post(api.a, api.legs((payable, 100), (store, -99)), key="unb")
    body = api.problem(r, 422, "unbalanced")
    assert body["problems"] == [{"index": 0, "code": "unbalanced", "detail": "CNY entries sum to 1, not 0"}]
    assert body["instance"] == "/v1/ledger/transactions"
    assert api.snapshot() == before


def test_every_problem_is_listed(books):
    api, payable, store = books
    before = api.snapshot()
    r = api.post(api.a, api.legs((payable, 0), (store, -5)))  # zero amount and unbalanced
    body = api.problem(r, 422, "invalid_amount")
    assert [p["code"] for p in body["problems"]] == ["invalid_amount", "unbalanced"]
    assert all(p["index"] == 0 and p["detail"] for p in body["problems"])
    assert api.snapshot() == before


def test_mixed_currency_must_balance_per_currency(books):
    api, payable, _ = books
    usd = api.open_account(api.a, "payable:usd", currency="USD")
    before = api.snapshot()
    r = api.post(api.a, api.legs((payable, 100), (usd, -100)))
    body = api.problem(r, 422, "unbalanced")
    assert {p["detail"] for p in body["problems"]} == {"CNY entries sum to 100, not 0", "USD entries sum to -100, not 0"}
    assert api.snapshot() == before


def test_overdraft_on_no_overdraft_account_is_422(api_any):
    api = api_any
    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    api.fund(api.a, payable, 1_000)
    before = api.snapshot()
    r = api.post(api.a, api.legs((payable, 1_001), (store, -1_001)), key="too-much")
    body = api.problem(r, 422, "insufficient_funds")
    assert body["problems"][0]["code"] == "insufficient_funds" and payable in body["problems"][0]["detail"]
    assert api.snapshot() == before
    assert api.balance(api.a, payable)["posted_minor"] == 1_000
    # the same key is free to use once the request can succeed (failures are not stored)
    r = api.post(api.a, api.legs((payable, 1_000), (store, -1_000)), key="too-much")
    assert r.status_code == 201, r.text
    assert api.balance(api.a, payable)["available_minor"] == 0


def test_concurrent_spends_never_overdraw(api_any):
    # Five clients race to spend 300 each from 1,000: exactly three may win, under the row lock.
    api = api_any
    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    api.fund(api.a, payable, 1_000)
    results: list = []
    barrier = threading.Barrier(5)

    def spend(i):
        barrier.wait()
        results.append(api.post(api.a, api.legs((payable, 300), (store, -300)), key=f"race-{i}"))

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 201, 201, 422, 422], [r.text for r in results]
    assert all(r.json()["code"] == "insufficient_funds" for r in results if r.status_code == 422)
    assert api.balance(api.a, payable)["posted_minor"] == 100
    assert api.balance(api.a, store)["posted_minor"] == 900


def test_amounts_beyond_64_bits_are_422_not_500(api, subtests):
    # BUG: nothing bounds amount_minor; the insert overflows BIGINT / SQLite INTEGER -> 500.
    receivable = api.open_account(api.a, "receivable:big")
    payable = api.open_account(api.a, "payable:big")
    api.fund(api.a, payable, 1)  # balances are no longer zero: 2**63 - 1 overflows them too
    with api.lenient():
        for amount in (2**63, 2**63 - 1, 10**30):
            with subtests.test(amount=amount):
                before = api.snapshot()
                r = api.post(api.a, api.legs((receivable, amount), (payable, -amount)))
                assert r.status_code == 422, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert api.snapshot() == before
        for amount in (2**63, 10**30):
            with subtests.test(hold=amount):
                before = api.snapshot()
                r = _hold(api, receivable, payable, amount)
                assert r.status_code == 422, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert api.snapshot() == before


def test_malformed_transaction_is_validation_error(api, subtests):
    a, b = "01a20000-0000-7000-8000-000000000000", "01a20000-0000-7000-8000-000000000001"
    before = api.snapshot()
    for body in [
        {},
        {"entries": []},
        {"entries": [{"account_id": a, "amount_minor": 1}]},
        {"entries": [{"account_id": "nope", "amount_minor": 1}, {"account_id": "nope", "amount_minor": -1}]},
        {"entries": [{"account_id": a, "amount_minor": 1.5}, {"account_id": b, "amount_minor": -1.5}]},
        {"entries": [{"account_id": a, "amount_minor": 1}, {"account_id": b, "amount_minor": -1}], "description": "x" * 501},
        {"entries": [{"account_id": a, "amount_minor": 1}, {"account_id": b, "amount_minor": -1}] * 33},  # 66 > 64
        [{"account_id": a, "amount_minor": 1}],
    ]:
        with subtests.test(body=str(body)[:80]):
            r = api.client.post("/v1/ledger/transactions", headers=api.a.h("finance", idem="bad"), json=body)
            problem = api.problem(r, 422, "validation_error")
            assert problem["errors"] and all({"loc", "msg", "type"} <= set(e) for e in problem["errors"])
    assert api.snapshot() == before


# -- holds ------------------------------------------------------------------------------------------

def _hold(api, debit, credit, amount, key=None, **extra):
    return api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem=key or uuid.uuid4().hex),
                           json={"debit_account_id": debit, "credit_account_id": credit, "amount_minor": amount, **extra})


def _resolve(api, hold_id, action, key=None, body=None, tenant=None):
    tenant = tenant or api.a
    return api.client.post(f"/v1/ledger/holds/{hold_id}/{action}", headers=tenant.h("finance", idem=key or uuid.uuid4().hex),
                           json=body if body is not None else {})


def test_hold_then_partial_capture_then_capture_again(books):
    api, payable, store = books
    r = _hold(api, payable, store, 6_000, expires_in_s=600, description="pre-auth")
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["kind"] == "hold" and hold["status"] == "pending"
    expires = datetime.fromisoformat(hold["expires_at"])
    assert timedelta(seconds=590) < expires - datetime.now(timezone.utc) <= timedelta(seconds=600)
    assert api.balance(api.a, payable) == {"account_id": payable, "currency": "CNY", "posted_minor": 10_000,
                                           "available_minor": 4_000, "pending_debits_minor": 6_000,
                                           "pending_credits_minor": 0}
    assert api.balance(api.a, store)["pending_credits_minor"] == 6_000

    r = _resolve(api, hold["id"], "capture", body={"amount_minor": 2_500})
    assert r.status_code == 201, r.text
    capture = r.json()
    assert capture["kind"] == "capture" and capture["hold_id"] == hold["id"]
    assert capture["entries"] == [
        {"account_id": payable, "currency": "CNY", "amount_minor": 2_500},
        {"account_id": store, "currency": "CNY", "amount_minor": -2_500},
    ]
    # the rest of the hold is released
    assert api.balance(api.a, payable) == {"account_id": payable, "currency": "CNY", "posted_minor": 7_500,
                                           "available_minor": 7_500, "pending_debits_minor": 0,
                                           "pending_credits_minor": 0}
    assert api.balance(api.a, store)["posted_minor"] == 2_500
    assert api.client.get(f"/v1/ledger/transactions/{hold['id']}", headers=api.a.h("risk")).json()["status"] == "captured"

    before = api.snapshot()
    api.problem(_resolve(api, hold["id"], "capture", body={"amount_minor": 1}), 409, "hold_not_pending")
    api.problem(_resolve(api, hold["id"], "capture"), 409, "hold_not_pending")
    api.problem(_resolve(api, hold["id"], "void"), 409, "hold_not_pending")
    assert api.snapshot() == before


def test_full_capture_when_amount_omitted(books):
    api, payable, store = books
    hold = _hold(api, payable, store, 4_000).json()
    r = _resolve(api, hold["id"], "capture")
    assert r.status_code == 201, r.text
    assert max(e["amount_minor"] for e in r.json()["entries"]) == 4_000
    assert api.balance(api.a, payable)["posted_minor"] == 6_000


def test_capture_above_hold_is_422(books):
    api, payable, store = books
    hold = _hold(api, payable, store, 3_000).json()
    before = api.snapshot()
    api.problem(_resolve(api, hold["id"], "capture", body={"amount_minor": 3_001}), 422, "capture_exceeds_hold")
    api.problem(_resolve(api, hold["id"], "capture", body={"amount_minor": 0}), 422, "validation_error")
    assert api.snapshot() == before
    assert api.balance(api.a, payable)["pending_debits_minor"] == 3_000


def test_void_releases_the_hold(books):
    api, payable, store = books
    hold = _hold(api, payable, store, 9_000).json()
    assert api.balance(api.a, payable)["available_minor"] == 1_000
    r = _resolve(api, hold["id"], "void")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "void" and r.json()["hold_id"] == hold["id"] and r.json()["entries"] == []
    assert api.balance(api.a, payable) == {"account_id": payable, "currency": "CNY", "posted_minor": 10_000,
                                           "available_minor": 10_000, "pending_debits_minor": 0,
                                           "pending_credits_minor": 0}
    assert api.client.get(f"/v1/ledger/transactions/{hold['id']}", headers=api.a.h("risk")).json()["status"] == "voided"
    api.problem(_resolve(api, hold["id"], "capture"), 409, "hold_not_pending")


def test_hold_beyond_available_is_insufficient_funds(books):
    api, payable, store = books
    _hold(api, payable, store, 7_000)
    before = api.snapshot()
    api.problem(_hold(api, payable, store, 3_001), 422, "insufficient_funds")
    api.problem(api.post(api.a, api.legs((payable, 3_001), (store, -3_001))), 422, "insufficient_funds")
    assert api.snapshot() == before


def test_expired_hold_cannot_be_captured_but_can_be_voided(books):
    api, payable, store = books
    hold = _hold(api, payable, store, 1_000).json()
    with api.db.session() as s, s.begin():  # the expiry sweep has not run yet
        s.execute(update(LedgerTransaction).where(LedgerTransaction.id == uuid.UUID(hold["id"]))
                  .values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    before = api.snapshot()
    r = _resolve(api, hold["id"], "capture")
    assert r.status_code in (409, 422), r.text
    api.problem(r, r.status_code, "hold_expired")
    assert api.snapshot() == before
    assert _resolve(api, hold["id"], "void").status_code == 201
    assert api.balance(api.a, payable)["available_minor"] == 10_000


def test_capture_or_void_of_a_posting_is_rejected(books):
    api, payable, store = books
    txn = api.post(api.a, api.legs((payable, 10), (store, -10))).json()
    before = api.snapshot()
    api.problem(_resolve(api, txn["id"], "capture"), 422, "not_a_hold")
    api.problem(_resolve(api, txn["id"], "void"), 422, "not_a_hold")
    assert api.snapshot() == before


def test_bad_hold_is_validation_error(books, subtests):
    api, payable, store = books
    before = api.snapshot()
    for amount, extra in ((10, {"expires_in_s": 0}), (10, {"expires_in_s": 30 * 24 * 3600 + 1}), (0, {}), (-5, {})):
        with subtests.test(amount=amount, **extra):
            api.problem(_hold(api, payable, store, amount, **extra), 422, "validation_error")
    assert api.snapshot() == before


# -- reversals ------------------------------------------------------------------------------------------

def _reverse(api, txn_id, key=None, tenant=None, **body):
    tenant = tenant or api.a
    return api.client.post(f"/v1/ledger/transactions/{txn_id}/reverse",
                           headers=tenant.h("finance", idem=key or uuid.uuid4().hex), json=body)


def test_reverse_then_reverse_again(books):
    api, payable, store = books
    txn = api.post(api.a, api.legs((payable, 700), (store, -700))).json()
    r = _reverse(api, txn["id"], description="keyed in twice")
    assert r.status_code == 201, r.text
    rev = r.json()
    assert rev["kind"] == "reversal" and rev["reverses_id"] == txn["id"] and rev["description"] == "keyed in twice"
    assert rev["entries"] == [{**e, "amount_minor": -e["amount_minor"]} for e in txn["entries"]]
    assert api.balance(api.a, payable)["posted_minor"] == 10_000
    assert api.balance(api.a, store)["posted_minor"] == 0

    before = api.snapshot()
    api.problem(_reverse(api, txn["id"]), 409, "already_reversed")
    assert api.snapshot() == before


def test_reversal_cannot_overdraw(books):
    api, payable, store = books
    txn = api.post(api.a, api.legs((payable, 700), (store, -700))).json()
    api.post(api.a, api.legs((store, 700), (payable, -700)))  # the store paid it back: store at 0
    before = api.snapshot()
    # reversing the first would debit the store 700 with nothing in it
    api.problem(_reverse(api, txn["id"]), 422, "insufficient_funds")
    assert api.snapshot() == before


def test_a_hold_cannot_be_reversed(books):
    api, payable, store = books
    hold = _hold(api, payable, store, 50).json()
    before = api.snapshot()
    api.problem(_reverse(api, hold["id"]), 422, "not_reversible")
    assert api.snapshot() == before


def test_unknown_transaction_is_404(books):
    api, _, _ = books
    missing = "01a20000-0000-7000-8000-000000000000"
    before = api.snapshot()
    api.problem(api.client.get(f"/v1/ledger/transactions/{missing}", headers=api.a.h("risk")), 404, "not_found")
    api.problem(_reverse(api, missing), 404, "transaction_not_found")
    api.problem(_resolve(api, missing, "capture"), 404, "transaction_not_found")
    api.problem(_resolve(api, missing, "void"), 404, "transaction_not_found")
    assert api.snapshot() == before


# -- listing -------------------------------------------------------------------------------------------

def test_list_transactions_with_filters_and_cursor(books):
    api, payable, store = books
    store2 = api.store_payables(api.a)[1]
    postings = [api.post(api.a, api.legs((payable, 10 + i), (store, -10 - i))).json()["id"] for i in range(4)]
    other = api.post(api.a, api.legs((payable, 5), (store2, -5))).json()["id"]
    hold = _hold(api, payable, store2, 20).json()["id"]
    void = _resolve(api, hold, "void").json()["id"]
    funding_txn = api.client.get("/v1/ledger/transactions", headers=api.a.h("risk"),
                                 params={"account_id": api.a._funding}).json()["data"]
    assert len(funding_txn) == 1
    everything = set(postings) | {other, hold, void, funding_txn[0]["id"]}

    def walk(**params):
        ids, cursor = [], None
        while True:
            r = api.client.get("/v1/ledger/transactions", headers=api.a.h("risk"),
                               params={**params, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            page = r.json()
            ids += [t["id"] for t in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids

    all_ids = walk(limit=2)
    assert len(all_ids) == len(set(all_ids)) == len(everything) and set(all_ids) == everything
    assert all_ids == sorted(all_ids, reverse=True)  # newest first
    assert set(walk(limit=3, account_id=store)) == set(postings)
    assert set(walk(limit=50, account_id=store2)) == {other, hold}  # a void has no entries
    assert set(walk(limit=1, kind="posting")) == set(postings) | {other, funding_txn[0]["id"]}
    assert walk(kind="hold") == [hold]
    assert walk(kind="void") == [void]
    assert walk(kind="reversal") == []
    assert walk(account_id=store, kind="hold") == []
    page = api.client.get("/v1/ledger/transactions", headers=api.a.h("risk"), params={"limit": 2}).json()
    assert [len(t["entries"]) for t in page["data"]] == [0, 2]  # entries come with each transaction


def test_list_transactions_by_creation_time(books):
    api, payable, store = books
    txn = api.post(api.a, api.legs((payable, 1), (store, -1))).json()
    created = datetime.fromisoformat(txn["created_at"])
    h = api.a.h("risk")
    params = {"created_from": created.isoformat(), "created_to": (created + timedelta(seconds=1)).isoformat()}
    r = api.client.get("/v1/ledger/transactions", headers=h, params=params)
    assert r.status_code == 200, r.text
    assert txn["id"] in [t["id"] for t in r.json()["data"]]
    later = {"created_from": (created + timedelta(hours=1)).isoformat()}
    assert api.client.get("/v1/ledger/transactions", headers=h, params=later).json()["data"] == []


def test_list_transactions_naive_datetime_is_not_a_500(books):
    # BUG: a timestamp without an offset reaches UTCDateTime, which raises ValueError -> 500.
    api, payable, store = books
    with api.lenient():
        r = api.client.get("/v1/ledger/transactions", headers=api.a.h("risk"),
                           params={"created_from": "2024-01-01T00:00:00"})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        api.problem(r, 422, "validation_error")


def test_list_transactions_bad_filters_are_422(api, subtests):
    for params in ({"kind": "refund"}, {"limit": 0}, {"limit": 201}, {"account_id": "x"}, {"cursor": "x"},
                   {"created_from": "yesterday"}):
        with subtests.test(params=params):
            r = api.client.get("/v1/ledger/transactions", headers=api.a.h("risk"), params=params)
            api.problem(r, 422, "validation_error")
