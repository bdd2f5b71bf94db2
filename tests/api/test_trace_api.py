"""GET /v1/trace/…: the signed tree head, an inclusion proof of the caller's own ledger
transaction that verifies offline, consistency between two heads; bad input is problem+json."""

from __future__ import annotations

import uuid

from cryptography.hazmat.primitives import serialization

from juhe.trace import ingest, proofs


def test_a_merchants_transaction_is_proven_in_the_signed_tree(api_any):
    api = api_any
    funded = api.fund(api.a, api.payable(api.a), 12_88)
    ingest.ingest(api.db)
    first = api.client.get("/v1/trace/tree-head", headers=api.a.h("business"))
    assert first.status_code == 200, first.text
    head = first.json()
    assert head["tree_size"] >= 1 and head["note"].startswith("juhe.trace/v1\n")
    key = serialization.load_pem_public_key(head["public_key"].encode())

    r = api.client.get("/v1/trace/proofs/inclusion", headers=api.a.h("finance"),
                       params={"kind": "ledger_transaction", "object_id": funded["id"]})
    assert r.status_code == 200, r.text
    assert proofs.verify_document(r.json(), key).startswith("record ")
    assert f'"object_id":"{funded["id"]}"' in r.json()["record"]

    api.fund(api.a, api.payable(api.a), 500)
    ingest.ingest(api.db)
    later = api.client.get("/v1/trace/proofs/inclusion", headers=api.a.h("finance"),  # signs a head that covers it
                           params={"kind": "ledger_transaction", "object_id": funded["id"]}).json()
    r = api.client.get("/v1/trace/proofs/consistency", headers=api.a.h("finance"),
                       params={"first": head["tree_size"], "second": later["tree_size"]})
    assert r.status_code == 200, r.text
    assert "extends" in proofs.verify_document(r.json(), key)


def test_another_merchants_record_is_not_found(api):
    funded = api.fund(api.a, api.payable(api.a), 100)
    ingest.ingest(api.db)
    r = api.client.get("/v1/trace/proofs/inclusion", headers=api.b.h("finance"),
                       params={"kind": "ledger_transaction", "object_id": funded["id"]})
    api.problem(r, 404, "record_not_found")


def test_bad_tree_sizes_and_missing_keys_are_problems(api):
    api.fund(api.a, api.payable(api.a), 100)
    ingest.ingest(api.db)
    size = api.client.get("/v1/trace/tree-head", headers=api.a.h()).json()["tree_size"]
    api.problem(api.client.get("/v1/trace/proofs/consistency", headers=api.a.h(), params={"first": 2, "second": 1}),
                422, "invalid_tree_sizes")
    api.problem(api.client.get("/v1/trace/proofs/consistency", headers=api.a.h(), params={"first": 0, "second": size}),
                422, "validation_error")
    api.problem(api.client.get("/v1/trace/proofs/consistency", headers=api.a.h(), params={"first": 1, "second": size + 5}),
                404, "tree_head_not_found")
    api.problem(api.client.get("/v1/trace/proofs/inclusion", headers=api.a.h(), params={"kind": "payment"}),
                422, "validation_error")
    api.problem(api.client.get("/v1/trace/proofs/inclusion", headers=api.a.h(),
                               params={"kind": "payment", "object_id": str(uuid.uuid4())}), 404, "record_not_found")
    api.problem(api.client.get("/v1/trace/tree-head"), 401, "unauthorized")
