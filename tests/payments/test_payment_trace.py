"""A payment through the whole stack ends up in the Merkle log by the worker alone: its status
changes and its ledger posting, each provable to the merchant with a proof that verifies
offline, and the ledger rows behind them still say what was logged."""

from __future__ import annotations

import time
import uuid

from cryptography.hazmat.primitives import serialization

from juhe.config import get_settings
from juhe.payments.models import Payment
from juhe.trace import proofs

QR = {"amount_minor": 1288, "currency": "CNY", "scenario": "qr", "subject": "Green tea 绿茶"}


def proof_of(stack, kind: str, object_id: str) -> dict:
    deadline = time.monotonic() + 20  # the worker takes in new rows every 5 s
    while True:
        r = stack.api.get("/v1/trace/proofs/inclusion", headers=stack.key("finance"),
                          params={"kind": kind, "object_id": object_id})
        if r.status_code == 200 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            return r.json()
        time.sleep(0.25)


def test_a_succeeded_payment_is_in_the_log_with_its_ledger_posting(stack, monkeypatch):
    # The API signs heads on demand with the worker's key: both read it from the same settings.
    monkeypatch.setenv("JUHE_DATA_DIR", str(stack.runtime.settings.data_dir))
    get_settings.cache_clear()
    created = stack.api.post("/v1/payments", json=QR, headers={**stack.key("business"), "Idempotency-Key": "trace-1"})
    assert created.status_code == 201, created.text
    payment = created.json()
    assert stack.pay(payment).status_code == 200
    assert stack.wait_for(payment["id"], {"succeeded"})["status"] == "succeeded"

    head = stack.api.get("/v1/trace/tree-head", headers=stack.key("finance")).json()
    key = serialization.load_pem_public_key(head["public_key"].encode())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the newest record of the payment is its success
        document = proof_of(stack, "payment", payment["id"])
        if '"event":"succeeded"' in document["record"]:
            break
        time.sleep(0.25)
    assert proofs.verify_document(document, key).startswith("record ")
    assert '"amount_minor":1288' in document["record"] and '"cause":' in document["record"]
    with stack.db.reader() as session:
        posting = session.get(Payment, uuid.UUID(payment["id"])).ledger_txn_id
        check = proofs.verify_database(session, key)
    assert check.problems == [] and check.leaves >= 3
    booked = proof_of(stack, "ledger_transaction", str(posting))  # the success's posting, entries and all
    assert proofs.verify_document(booked, key).startswith("record ") and '"entries":[[' in booked["record"]
