"""BNPL over HTTP end to end: a line, an order approved and captured, repaid in two parts through
the Alipay sandbox (the payments core books them to receivable:bnpl), webhooks bnpl.*, and the
bad inputs that answer problem+json and change nothing."""

from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import func, select

from juhe.bnpl.models import BnplOrder, BnplRepayment
from juhe.bnpl.service import exposure
from juhe.ledger import verify_ledger

from tests.bnpl.conftest import known_payer

PROBLEM = "application/problem+json"


def post(stack, path, body=None, key=None, role="business"):
    return stack.api.post(path, json=body, headers={**stack.key(role), "Idempotency-Key": key or uuid.uuid4().hex})


def setup_captured(stack, amount=90_000, installments=3):
    with stack.db.session() as session, session.begin():
        known_payer(session, "alice")
    line = post(stack, "/v1/bnpl/lines", {"customer_id": "alice"})
    assert line.status_code == 201, line.text
    assert line.json()["status"] == "active" and line.json()["limit_minor"] == 120_000
    order = post(stack, "/v1/bnpl/orders", {"customer_id": "alice", "amount_minor": amount, "subject": "Rice cooker",
                                            "installments": installments})
    assert order.status_code == 201, order.text
    captured = post(stack, f"/v1/bnpl/orders/{order.json()['id']}/capture", {})
    assert captured.status_code == 200, captured.text
    return captured.json()


def repay(stack, order_id, amount=None, key=None):
    body = {"scenario": "qr", "preferred_channel": "alipay"} | ({"amount_minor": amount} if amount else {})
    return post(stack, f"/v1/bnpl/orders/{order_id}/repayments", body, key=key)


def wait_repayment(stack, repayment_id, status, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while True:
        found = stack.api.get(f"/v1/bnpl/repayments/{repayment_id}", headers=stack.key("business")).json()
        if found["status"] == status or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_webhook(stack, type_, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [json.loads(b) for _, b in stack.received if json.loads(b)["type"] == type_]
        if found:
            return found
        time.sleep(0.05)
    return []


def books_agree(stack) -> bool:
    with stack.db.engine.connect() as conn, conn.begin():
        ok = verify_ledger(conn).ok
    with stack.db.reader() as session:
        owed, receivable = exposure(session, "CNY")
    return ok and owed == receivable


def test_an_order_is_repaid_in_two_parts_through_a_channel(stack):
    order = setup_captured(stack)
    assert [p["principal_minor"] for p in order["installments"]] == [30_000, 30_000, 30_000]
    first = repay(stack, order["id"], 30_000)
    assert first.status_code == 201, first.text
    assert first.json()["payment"]["channel"] == "alipay" and first.json()["payment"]["next_action"]["qr_content"]
    stack.pay(first.json()["payment"])
    assert wait_repayment(stack, first.json()["id"], "succeeded")["status"] == "succeeded"
    after_one = stack.api.get(f"/v1/bnpl/orders/{order['id']}", headers=stack.key("finance")).json()
    assert after_one["owed_minor"] == 60_000 and after_one["installments"][0]["paid_at"]
    assert books_agree(stack)
    rest = repay(stack, order["id"])  # the rest, before it is due: early repayment in full
    assert rest.json()["amount_minor"] == 60_000
    stack.pay(rest.json()["payment"])
    assert wait_repayment(stack, rest.json()["id"], "succeeded")["status"] == "succeeded"
    done = stack.api.get(f"/v1/bnpl/orders/{order['id']}", headers=stack.key("finance")).json()
    assert done["status"] == "repaid" and done["owed_minor"] == 0 and len(done["repayments"]) == 2
    assert books_agree(stack)
    line = stack.api.get(f"/v1/bnpl/lines/{done['line_id']}", headers=stack.key("finance")).json()
    assert line["owed_minor"] == 0 and line["available_minor"] == 120_000
    assert wait_webhook(stack, "bnpl.order.repaid") and len(wait_webhook(stack, "bnpl.repayment.succeeded")) >= 1
    refused = post(stack, f"/v1/payments/{first.json()['payment']['id']}/refunds", {}, role="finance")
    assert refused.status_code == 409 and refused.json()["code"] == "payment_not_refundable"
    again = repay(stack, order["id"], 100)
    assert again.status_code == 409 and again.json()["code"] == "bnpl_order_not_repayable"


def test_a_replayed_repayment_makes_one_payment(stack):
    order = setup_captured(stack)
    first = repay(stack, order["id"], 10_000, key="same")
    replay = repay(stack, order["id"], 10_000, key="same")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["payment"]["id"] == first.json()["payment"]["id"]
    other = repay(stack, order["id"], 20_000, key="same")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def test_a_failed_repayment_gives_its_reservation_back(stack):
    order = setup_captured(stack)
    first = repay(stack, order["id"], 90_000)
    blocked = repay(stack, order["id"], 1)
    assert blocked.status_code == 422 and blocked.json()["repayable_minor"] == 0
    stack.pay(first.json()["payment"], outcome="decline")
    assert wait_repayment(stack, first.json()["id"], "failed")["status"] == "failed"
    assert stack.api.get(f"/v1/bnpl/orders/{order['id']}", headers=stack.key("finance")).json()["repayable_minor"] == 90_000
    assert wait_webhook(stack, "bnpl.repayment.failed")
    assert books_agree(stack)


def test_bad_inputs_answer_problems_and_change_nothing(stack):
    order = setup_captured(stack)
    with stack.db.reader() as session:
        before = (session.scalar(select(func.count()).select_from(BnplOrder)),
                  session.scalar(select(func.count()).select_from(BnplRepayment)))
    cases = [
        (post(stack, f"/v1/bnpl/orders/{order['id']}/repayments", {"amount_minor": 90_001}), 422, "repayment_exceeds_owed"),
        (post(stack, "/v1/bnpl/orders", {"customer_id": "bob", "amount_minor": 100, "subject": "x"}), 404, "bnpl_line_not_found"),
        (post(stack, "/v1/bnpl/orders", {"customer_id": "alice", "amount_minor": 30_001, "subject": "x"}), 422, "over_credit_limit"),
        (post(stack, f"/v1/bnpl/orders/{uuid.uuid4()}/capture", {}), 404, "bnpl_order_not_found"),
        (post(stack, f"/v1/bnpl/orders/{order['id']}/capture", {}), 409, "illegal_transition"),
        (post(stack, "/v1/bnpl/orders", {"customer_id": "alice", "amount_minor": 100, "subject": "x", "installments": 5}),
         422, "invalid_installments"),
        (post(stack, "/v1/bnpl/lines", {"customer_id": "alice"}, role="finance"), 403, "forbidden"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM) and response.json()["code"] == code
    assert cases[2][0].json()["available_minor"] == 30_000
    other_merchant = stack.api.get(f"/v1/bnpl/orders/{order['id']}", headers=stack.key("business", 1))
    assert other_merchant.status_code == 404
    with stack.db.reader() as session:
        after = (session.scalar(select(func.count()).select_from(BnplOrder)),
                 session.scalar(select(func.count()).select_from(BnplRepayment)))
    assert after == before
    assert books_agree(stack)
