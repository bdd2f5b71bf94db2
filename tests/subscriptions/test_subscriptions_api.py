"""Subscriptions end to end: a mandate signed at the Alipay sandbox (agreement pay), a plan with
an anchor and a coupon, invoices collected through the payments core on the mandate, an
upgrade prorated, the clock moved by hand; a mandate revoked in the wallet runs the dunning
schedule out and cancels; bad inputs answer problem+json and change nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta
from fractions import Fraction

import httpx
from sqlalchemy import func, select

from juhe.db.types import utcnow
from juhe.ledger import verify_ledger
from juhe.subscriptions import cycles, pricing
from juhe.subscriptions.clock import run_clock
from juhe.subscriptions.models import Subscription

PROBLEM = "application/problem+json"


def post(stack, path, body=None, role="business"):
    return stack.api.post(f"/v1/billing{path}", json=body, headers={**stack.key(role), "Idempotency-Key": uuid.uuid4().hex})


def sign_agreement(stack) -> str:
    return httpx.post(f"{stack.sandbox('alipay').server.base_url}/sandbox/agreements").json()["agreement_no"]


def catalogue(stack) -> str:
    product = post(stack, "/products", {"name": "Cloud POS"}).json()
    for code, amount in (("basic", 9_900), ("pro", 19_900)):
        plan = post(stack, "/plans", {"product_id": product["id"], "code": code, "pricing": {"model": "fixed", "unit_amount_minor": amount}})
        assert plan.status_code == 201, plan.text
    assert post(stack, "/coupons", {"code": "WELCOME20", "percent_off": 20, "duration": "repeating", "duration_cycles": 2}).status_code == 201
    return product["id"]


def mandate(stack, customer="shop-7") -> dict:
    created = post(stack, "/mandates", {"customer_id": customer, "channel": "alipay", "agreement_no": sign_agreement(stack)})
    assert created.status_code == 201, created.text
    return created.json()


def invoices(stack, sub_id) -> list[dict]:
    rows = stack.api.get("/v1/billing/invoices", params={"subscription_id": sub_id}, headers=stack.key("finance")).json()["data"]
    return sorted(rows, key=lambda i: i["created_at"])


def wait_paid(stack, sub_id, count, timeout_s=30) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = invoices(stack, sub_id)
        if len([i for i in rows if i["status"] == "paid"]) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def clock(stack, at):
    """The worker's job at a moment of the test's choosing (twice: a failure is noticed on the next round)."""
    for _ in range(2):
        asyncio.run(run_clock(stack.runtime.payments, at))


def sub_row(stack, sub_id) -> Subscription:
    with stack.db.reader() as session:
        return session.get(Subscription, uuid.UUID(sub_id))


def ledger_ok(stack) -> bool:
    with stack.db.engine.connect() as conn, conn.begin():
        return verify_ledger(conn).ok


def test_invoices_are_collected_on_the_mandate_with_anchor_coupon_and_proration(stack):
    catalogue(stack)
    signed = mandate(stack)
    created = post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": signed["id"],
                                             "coupon": "WELCOME20", "anchor_day": 1})
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["status"] == "active" and sub["current_period_end"].startswith(
        cycles.add_months(utcnow().replace(day=1), 1).date().isoformat())
    first = wait_paid(stack, sub["id"], 1)[0]
    row = sub_row(stack, sub["id"])
    fraction = cycles.fraction_of(row.period_start, row.period_end, row.anchor_at, "month")
    assert first["subtotal_minor"] == pricing.share_minor(9_900, fraction)
    assert first["discount_minor"] == pricing.share_minor(first["subtotal_minor"], Fraction(20, 100))
    assert first["status"] == "paid" and first["amount_due_minor"] == first["subtotal_minor"] - first["discount_minor"]
    payment = stack.api.get(f"/v1/payments/{first['payment_id']}", headers=stack.key("business")).json()
    assert (payment["status"], payment["channel"], payment["scenario"]) == ("succeeded", "alipay", "mandate")

    upgraded = post(stack, f"/subscriptions/{sub['id']}/change", {"plan": "pro"})
    assert upgraded.status_code == 200, upgraded.text
    proration = upgraded.json()["proration_invoice"]
    lines = {line["kind"]: line["amount_minor"] for line in proration["lines"]}
    assert lines["proration_charge"] > -lines["proration_credit"] > 0
    assert proration["discount_minor"] == 0 and proration["amount_due_minor"] == lines["proration_charge"] + lines["proration_credit"]
    wait_paid(stack, sub["id"], 2)

    clock(stack, row.period_end)
    renewal = wait_paid(stack, sub["id"], 3)[-1]
    assert renewal["reason"] == "subscription_cycle" and renewal["subtotal_minor"] == 19_900
    assert renewal["discount_minor"] == 3_980 and renewal["status"] == "paid"  # the coupon's second and last cycle
    clock(stack, sub_row(stack, sub["id"]).period_end)
    third = wait_paid(stack, sub["id"], 4)[-1]
    assert third["discount_minor"] == 0 and third["amount_due_minor"] == 19_900
    assert ledger_ok(stack)


def test_a_mandate_revoked_in_the_wallet_runs_dunning_out_and_cancels(stack):
    catalogue(stack)
    signed = mandate(stack)
    sub = post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": signed["id"]}).json()
    wait_paid(stack, sub["id"], 1)
    httpx.post(f"{stack.sandbox('alipay').server.base_url}/sandbox/agreements/{signed['agreement_no']}/unsign")
    end = sub_row(stack, sub["id"]).period_end
    clock(stack, end)
    assert sub_row(stack, sub["id"]).status == "past_due"
    for days in (1, 4, 9):
        clock(stack, end + timedelta(days=days, minutes=1))
    row = sub_row(stack, sub["id"])
    assert (row.status, row.cancel_reason) == ("canceled", "payment_failed")
    last = invoices(stack, sub["id"])[-1]
    assert last["status"] == "uncollectible" and last["attempts"] == 4
    types = [json.loads(b)["type"] for _, b in stack.received]
    deadline = time.monotonic() + 20
    while "subscription.canceled" not in types and time.monotonic() < deadline:
        time.sleep(0.05)
        types = [json.loads(b)["type"] for _, b in stack.received]
    assert "invoice.payment_failed" in types and "subscription.canceled" in types
    before = (sub_row(stack, sub["id"]).plan_id, len(invoices(stack, sub["id"])))
    changed = post(stack, f"/subscriptions/{sub['id']}/change", {"plan": "pro"})
    assert changed.status_code == 409 and changed.json()["code"] == "proration_across_canceled_period"
    assert (sub_row(stack, sub["id"]).plan_id, len(invoices(stack, sub["id"]))) == before  # nothing prorated, nothing changed
    assert ledger_ok(stack)


def test_cancel_and_pause_take_effect_at_period_end(stack):
    catalogue(stack)
    signed = mandate(stack)
    canceling = post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": signed["id"]}).json()
    pausing = post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": signed["id"]}).json()
    assert post(stack, f"/subscriptions/{canceling['id']}/cancel").json()["cancel_at_period_end"]
    assert post(stack, f"/subscriptions/{pausing['id']}/pause").json()["pause_at_period_end"]
    clock(stack, max(sub_row(stack, s["id"]).period_end for s in (canceling, pausing)))
    assert sub_row(stack, canceling["id"]).status == "canceled" and sub_row(stack, pausing["id"]).status == "paused"
    assert len(invoices(stack, canceling["id"])) == 1  # nothing billed in advance for a period that does not come
    resumed = post(stack, f"/subscriptions/{pausing['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert len(wait_paid(stack, pausing["id"], 2)) == 2


def test_bad_inputs_answer_problems_and_change_nothing(stack):
    catalogue(stack)
    signed = mandate(stack)
    revoked = mandate(stack)
    assert post(stack, f"/mandates/{revoked['id']}/revoke").json()["status"] == "revoked"
    with stack.db.reader() as session:
        before = session.scalar(select(func.count()).select_from(Subscription))
    cases = [
        (post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "gold", "mandate_id": signed["id"]}), 404, "plan_not_found"),
        (post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": revoked["id"]}), 409, "mandate_revoked"),
        (post(stack, "/subscriptions", {"customer_id": "other", "plan": "basic", "mandate_id": signed["id"]}), 404, "mandate_not_found"),
        (post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": signed["id"], "coupon": "NOPE"}),
         404, "coupon_not_found"),
        (post(stack, "/plans", {"product_id": str(uuid.uuid4()), "code": "x", "pricing": {"model": "fixed"}}), 404, "product_not_found"),
        (post(stack, "/subscriptions", {"customer_id": "shop-7", "plan": "basic", "mandate_id": signed["id"]}, role="finance"),
         403, "forbidden"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (code, response.text)
        assert response.headers["content-type"].startswith(PROBLEM) and response.json()["code"] == code
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == before
