"""Idempotency-Key on every POST that moves money (SQLite and PostgreSQL for the core)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from juhe.db.models import IdempotencyRecord, LedgerTransaction
from juhe.db.types import utcnow


def _books(api):
    payable, store = api.payable(api.a), api.store_payables(api.a)[0]
    api.fund(api.a, payable, 10_000)
    return api, payable, store


@pytest.fixture
def books_any(api_any):
    """The core: run on SQLite and PostgreSQL."""
    return _books(api_any)


@pytest.fixture
def books(api):
    return _books(api)


def _txn_count(api) -> int:
    return api.count(LedgerTransaction)


def _post_raw(api, tenant, content: str, key: str | None):
    headers = {**tenant.h("finance"), "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.client.post("/v1/ledger/transactions", headers=headers, content=content)


def test_missing_key_on_money_moving_posts_is_400(books_any):
    api, payable, store = books_any
    hold = api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem="h"),
                           json={"debit_account_id": payable, "credit_account_id": store, "amount_minor": 10}).json()
    posting = api.post(api.a, api.legs((payable, 1), (store, -1))).json()
    before = api.snapshot()
    for path, body in [
        ("/v1/ledger/transactions", {"entries": api.legs((payable, 5), (store, -5))}),
        ("/v1/ledger/holds", {"debit_account_id": payable, "credit_account_id": store, "amount_minor": 5}),
        (f"/v1/ledger/holds/{hold['id']}/capture", {}),
        (f"/v1/ledger/holds/{hold['id']}/void", {}),
        (f"/v1/ledger/transactions/{posting['id']}/reverse", {}),
    ]:
        for extra in ({}, {"Idempotency-Key": ""}, {"Idempotency-Key": "   "}):
            r = api.client.post(path, headers={**api.a.h("finance"), **extra}, json=body)
            body_ = api.problem(r, 400, "idempotency_key_required")
            assert "Idempotency-Key" in body_["detail"]
    assert api.snapshot() == before


def test_same_key_same_body_replays_the_stored_answer(books_any):
    api, payable, store = books_any
    entries = api.legs((payable, 250), (store, -250))
    first = api.post(api.a, entries, key="order-42", description="order 42")
    assert first.status_code == 201, first.text
    assert first.headers["idempotent-replayed"] == "false"
    count = _txn_count(api)
    before = api.snapshot()

    for _ in range(3):
        again = api.post(api.a, entries, key="order-42", description="order 42")
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
    assert _txn_count(api) == count
    assert api.snapshot() == before
    assert api.balance(api.a, payable)["posted_minor"] == 10_000 - 250
    # another key of the same merchant sees the same answer: keys are per merchant
    r = api.client.post("/v1/ledger/transactions", headers=api.a.h("admin", idem="order-42"),
                        json={"entries": entries, "description": "order 42"})
    assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true" and r.json() == first.json()


def test_replay_ignores_key_order_and_whitespace(books_any):
    api, payable, store = books_any
    compact = json.dumps({"entries": api.legs((payable, 7), (store, -7)), "description": "x"}, separators=(",", ":"))
    first = _post_raw(api, api.a, compact, "fmt-1")
    assert first.status_code == 201, first.text
    count = _txn_count(api)
    reordered = (
        '{\n  "description" :  "x",\n  "entries": [\n'
        f'    {{"amount_minor": 7, "account_id": "{payable}"}},\n'
        f'    {{"amount_minor": -7,   "account_id": "{store.upper()}"}}\n  ]\n}}\n'
    )
    again = _post_raw(api, api.a, reordered, "fmt-1")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # defaults spelled out are the same request too
    explicit = json.dumps({"entries": api.legs((payable, 7), (store, -7)), "description": "x", "metadata": {}})
    assert _post_raw(api, api.a, explicit, "fmt-1").headers["idempotent-replayed"] == "true"
    assert _txn_count(api) == count


def test_same_key_other_body_is_409_and_changes_nothing(books_any):
    api, payable, store = books_any
    first = api.post(api.a, api.legs((payable, 100), (store, -100)), key="k-reuse")
    assert first.status_code == 201
    before = api.snapshot()
    for entries, extra in [
        (api.legs((payable, 101), (store, -101)), {}),
        (api.legs((payable, 100), (store, -100)), {"description": "changed"}),
        (api.legs((store, -100), (payable, 100)), {}),  # entry order is part of the request
    ]:
        r = api.post(api.a, entries, key="k-reuse", **extra)
        api.problem(r, 409, "idempotency_key_reused")
    # the same key on another money-moving endpoint is another request
    r = api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem="k-reuse"),
                        json={"debit_account_id": payable, "credit_account_id": store, "amount_minor": 100})
    api.problem(r, 409, "idempotency_key_reused")
    r = api.client.post(f"/v1/ledger/transactions/{first.json()['id']}/reverse",
                        headers=api.a.h("finance", idem="k-reuse"), json={})
    api.problem(r, 409, "idempotency_key_reused")
    assert api.snapshot() == before


def test_same_key_at_another_merchant_is_independent(books_any):
    api, payable, store = books_any
    b_payable, b_store = api.payable(api.b), api.store_payables(api.b)
    b_other = api.open_account(api.b, "payable:other")
    api.fund(api.b, b_payable, 1_000)
    count = _txn_count(api)
    ra = api.post(api.a, api.legs((payable, 30), (store, -30)), key="shared-key")
    rb = api.post(api.b, api.legs((b_payable, 40), (b_other, -40)), key="shared-key")
    assert ra.status_code == rb.status_code == 201, (ra.text, rb.text)
    assert rb.headers["idempotent-replayed"] == "false"
    assert ra.json()["id"] != rb.json()["id"]
    assert _txn_count(api) == count + 2
    assert api.balance(api.b, b_other)["posted_minor"] == 40
    assert b_store == []  # the e-commerce demo merchant has no stores


def test_replayed_capture_is_not_a_second_capture(books):
    api, payable, store = books
    hold = api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem="auth-1"),
                           json={"debit_account_id": payable, "credit_account_id": store, "amount_minor": 900}).json()
    path = f"/v1/ledger/holds/{hold['id']}/capture"
    first = api.client.post(path, headers=api.a.h("finance", idem="cap-1"), json={"amount_minor": 400})
    assert first.status_code == 201, first.text
    again = api.client.post(path, headers=api.a.h("finance", idem="cap-1"), json={"amount_minor": 400})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert api.balance(api.a, payable)["posted_minor"] == 10_000 - 400
    void = f"/v1/ledger/holds/{hold['id']}/void"
    api.problem(api.client.post(void, headers=api.a.h("finance", idem="void-1")), 409, "hold_not_pending")


def test_key_longer_than_255_is_400(books):
    api, payable, store = books
    before = api.snapshot()
    r = api.post(api.a, api.legs((payable, 1), (store, -1)), key="k" * 256)
    api.problem(r, 400, "invalid_idempotency_key")
    assert api.snapshot() == before


def test_key_of_255_characters_is_accepted(books_any):
    # BUG: the API allows 255 characters but prefixes the key with "api:<merchant uuid>:" (41
    # characters) for the ledger, whose keys are at most 200: keys of 160-255 characters get a
    # 422 invalid_idempotency_key from the ledger.
    api, payable, store = books_any
    key = "k" * 255
    first = api.post(api.a, api.legs((payable, 1), (store, -1)), key=key)
    assert first.status_code == 201, first.text
    again = api.post(api.a, api.legs((payable, 1), (store, -1)), key=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"


def _expire(api, tenant, key: str) -> None:
    with api.db.session() as s, s.begin():
        result = s.execute(update(IdempotencyRecord)
                           .where(IdempotencyRecord.merchant_id == uuid.UUID(tenant.id), IdempotencyRecord.key == key)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        assert result.rowcount == 1


def test_records_are_kept_at_least_24_hours(books):
    api, payable, store = books
    started = utcnow()
    assert api.post(api.a, api.legs((payable, 1), (store, -1)), key="ttl").status_code == 201
    with api.db.session() as s:
        record = s.get(IdempotencyRecord, (uuid.UUID(api.a.id), "ttl"))
        assert record.expires_at - started >= timedelta(hours=24)
        assert record.status_code == 201


def test_expired_record_same_body_is_executed_afresh(books):
    api, payable, store = books
    entries = api.legs((payable, 60), (store, -60))
    first = api.post(api.a, entries, key="old-key")
    assert first.status_code == 201
    _expire(api, api.a, "old-key")
    again = api.post(api.a, entries, key="old-key")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "false"
    # a fresh record was stored
    with api.db.session() as s:
        assert s.get(IdempotencyRecord, (uuid.UUID(api.a.id), "old-key")).expires_at > utcnow()


def test_expired_record_is_treated_as_new(books_any):
    # BUG: the API record expired, but the ledger keeps "api:<merchant>:<key>" forever, so a new
    # request with an expired key gets 409 idempotency_key_reused from the ledger.
    api, payable, store = books_any
    assert api.post(api.a, api.legs((payable, 60), (store, -60)), key="recycled").status_code == 201
    _expire(api, api.a, "recycled")
    count = _txn_count(api)
    r = api.post(api.a, api.legs((payable, 75), (store, -75)), key="recycled")
    assert r.status_code == 201, r.text
    assert r.headers["idempotent-replayed"] == "false"
    assert _txn_count(api) == count + 1
    assert api.balance(api.a, store)["posted_minor"] == 60 + 75


def test_failed_requests_are_not_stored(books):
    api, payable, store = books
    before = api.snapshot()
    api.problem(api.post(api.a, api.legs((payable, 5), (store, -4)), key="retry-me"), 422, "unbalanced")
    assert api.snapshot() == before  # no record: the client may fix the body and retry with the key
    assert api.post(api.a, api.legs((payable, 5), (store, -5)), key="retry-me").status_code == 201


def test_concurrent_twins_post_once(books_any):
    api, payable, store = books_any
    entries = api.legs((payable, 333), (store, -333))
    count = _txn_count(api)
    results: list = []
    barrier = threading.Barrier(4)

    def send():
        barrier.wait()
        results.append(api.post(api.a, entries, key="twin"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) >= 1, [r.text for r in results]
    assert set(statuses) <= {201, 409}, [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_request_in_progress"
    ids = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(ids) == 1
    assert _txn_count(api) == count + 1
    assert api.balance(api.a, payable)["posted_minor"] == 10_000 - 333


def test_expired_record_same_hold_request_is_not_a_conflict(books):
    # A hold's ledger content includes its absolute expiry (now + expires_in_s), which differs
    # on every execution: re-running the same request must not look like a reused key.
    api, payable, store = books
    body = {"debit_account_id": payable, "credit_account_id": store, "amount_minor": 500, "expires_in_s": 600}
    first = api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem="hold-again"), json=body)
    assert first.status_code == 201, first.text
    _expire(api, api.a, "hold-again")
    again = api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem="hold-again"), json=body)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "false"


def test_concurrent_hold_twins_hold_once(books_any):
    api, payable, store = books_any
    body = {"debit_account_id": payable, "credit_account_id": store, "amount_minor": 700}
    results: list = []
    barrier = threading.Barrier(4)

    def send():
        barrier.wait()
        results.append(api.client.post("/v1/ledger/holds", headers=api.a.h("finance", idem="hold-twin"), json=body))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4
    answers = [(r.status_code, r.json().get("code")) for r in results]
    assert (201, None) in answers, answers
    # the client sent one request four times: never "you reused the key for something else"
    assert set(answers) <= {(201, None), (409, "idempotency_request_in_progress")}, answers
    assert len({r.json()["id"] for r in results if r.status_code == 201}) == 1
    assert api.balance(api.a, payable)["pending_debits_minor"] == 700
