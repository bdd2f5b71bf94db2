"""End to end over HTTP: create → channel sandbox → payer pays → signed notification →
ledger → webhook; refunds; cancel; and the bad inputs that must change nothing."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from juhe.ledger import verify_ledger
from juhe.payments.models import ChannelNotification, Payment, PaymentAttempt
from juhe.webhooks.models import WebhookEndpoint
from juhe.webhooks.signing import verify

QR = {"amount_minor": 1288, "currency": "CNY", "scenario": "qr", "subject": "Green tea"}


def create(stack, body=None, key="k1", merchant=0, **extra):
    return stack.api.post("/v1/payments", json={**(body or QR), **extra},
                          headers={**stack.key("business", merchant), "Idempotency-Key": key})


def ledger_ok(stack) -> bool:
    with stack.db.engine.connect() as conn, conn.begin():
        return verify_ledger(conn).ok


def payable_balance(stack, merchant=0) -> int:
    accounts = stack.api.get("/v1/accounts", headers=stack.key("finance", merchant)).json()["data"]
    merchant_wide = [a for a in accounts if a["owner_type"] == "merchant"]
    return merchant_wide[0]["balance"]["posted_minor"]


@pytest.mark.parametrize("channel", ["alipay", "wechatpay", "unionpay"])
def test_qr_payment_succeeds_books_ledger_and_sends_signed_webhook(stack, channel):
    created = create(stack, preferred_channel=channel)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["status"] == "processing"
    assert payment["channel"] == channel
    assert payment["next_action"]["type"] == "qr" and payment["next_action"]["qr_content"]
    assert payment["routing"]["reason"].startswith(f"{channel}: preferred by the request")
    assert stack.pay(payment).status_code == 200
    done = stack.wait_for(payment["id"], {"succeeded"})
    assert done["status"] == "succeeded"
    assert [e["to"] for e in done["timeline"]] == ["requires_payment_method", "processing", "succeeded"]
    fee = done["fee_minor"]
    assert fee > 0
    assert payable_balance(stack) == 1288 - fee
    assert ledger_ok(stack)
    deadline = time.monotonic() + 20
    while not any(b'"payment.succeeded"' in body for _, body in stack.received) and time.monotonic() < deadline:
        time.sleep(0.05)
    headers, body = next((h, b) for h, b in stack.received if b'"payment.succeeded"' in b)
    with stack.db.session() as session:
        endpoint_secret = session.scalar(select(WebhookEndpoint.secret))
    assert verify(endpoint_secret, headers["juhe-signature"], body)
    assert json.loads(body)["data"]["id"] == payment["id"]


@pytest.mark.parametrize(("channel", "scenario", "action"), [
    ("alipay", "web", "redirect"), ("alipay", "wap", "redirect"), ("alipay", "app", "app"),
    ("wechatpay", "app", "app"), ("wechatpay", "wap", "redirect"),
    ("unionpay", "web", "form"),
])
def test_each_scenario_goes_through_each_channel_that_supports_it(stack, channel, scenario, action):
    payer = {"client_ip": "203.0.113.7", "openid": "o-demo"}
    payment = create(stack, {**QR, "scenario": scenario, "payer": payer}, key=f"{channel}-{scenario}",
                     preferred_channel=channel).json()
    assert payment["status"] == "processing", payment
    assert payment["channel"] == channel
    assert payment["next_action"]["type"] == action
    stack.pay(payment)
    assert stack.wait_for(payment["id"], {"succeeded"})["status"] == "succeeded"


def test_same_idempotency_key_replays_and_other_body_conflicts(stack):
    first = create(stack, key="same")
    again = create(stack, key="same")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = create(stack, {**QR, "amount_minor": 999}, key="same")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    with stack.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1


def test_bad_inputs_are_rejected_with_codes(stack):
    no_key = stack.api.post("/v1/payments", json=QR, headers=stack.key("business"))
    assert no_key.status_code == 400 and no_key.json()["code"] == "idempotency_key_required"
    assert create(stack, {**QR, "amount_minor": 0}, key="a").json()["code"] == "validation_error"
    assert create(stack, {**QR, "currency": "XXX"}, key="b").json()["code"] == "invalid_money"
    finance = stack.api.post("/v1/payments", json=QR, headers={**stack.key("finance"), "Idempotency-Key": "d"})
    assert finance.status_code == 403
    other_store = stack.api.get("/v1/stores", headers=stack.key("business", 1)).json()["data"]
    assert other_store == []


def test_unsupported_currency_fails_with_no_eligible_channel(stack):
    payment = create(stack, {**QR, "currency": "USD"}, key="usd").json()
    assert payment["status"] == "failed"
    assert payment["failure_code"] == "no_eligible_channel"


def test_partial_and_full_refunds_never_exceed_the_payment(stack):
    payment = create(stack, preferred_channel="alipay").json()
    stack.pay(payment)
    stack.wait_for(payment["id"], {"succeeded"})
    refund_url = f"/v1/payments/{payment['id']}/refunds"
    headers = stack.key("finance")
    first = stack.api.post(refund_url, json={"amount_minor": 500}, headers={**headers, "Idempotency-Key": "r1"})
    assert first.status_code == 201, first.text
    too_much = stack.api.post(refund_url, json={"amount_minor": 789}, headers={**headers, "Idempotency-Key": "r2"})
    assert too_much.status_code == 422 and too_much.json()["code"] == "refund_exceeds_refundable"
    rest = stack.api.post(refund_url, json={}, headers={**headers, "Idempotency-Key": "r3"})
    assert rest.status_code == 201 and rest.json()["amount"]["amount_minor"] == 788
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        refunds = stack.api.get(refund_url, headers=headers).json()["data"]
        if all(r["status"] == "succeeded" for r in refunds):
            break
        time.sleep(0.05)
    assert [r["status"] for r in refunds] == ["succeeded", "succeeded"]
    assert payable_balance(stack) == 0  # amount and fee both fully given back
    assert ledger_ok(stack)
    again = stack.api.post(refund_url, json={"amount_minor": 1}, headers={**headers, "Idempotency-Key": "r4"})
    assert again.status_code == 422


def test_cancel_closes_at_channel_and_second_cancel_is_illegal(stack):
    payment = create(stack, preferred_channel="wechatpay").json()
    canceled = stack.api.post(f"/v1/payments/{payment['id']}/cancel", headers=stack.key("business"))
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = stack.api.post(f"/v1/payments/{payment['id']}/cancel", headers=stack.key("business"))
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    assert stack.pay(payment).json()["state"] == "closed"  # the payer can no longer pay it


def test_forged_notification_is_rejected_logged_and_changes_nothing(stack):
    payment = create(stack, preferred_channel="alipay").json()
    forged = {"notify_type": "trade_status_sync", "out_trade_no": payment["channel_order_no"], "trade_status": "TRADE_SUCCESS",
              "total_amount": "12.88", "sign_type": "RSA2", "sign": "Zm9yZ2Vk", "trade_no": "X1"}
    answer = stack.api.post("/v1/notify/alipay", data=forged)
    assert answer.status_code == 400
    assert stack.api.get(f"/v1/payments/{payment['id']}", headers=stack.key("business")).json()["status"] == "processing"
    with stack.db.session() as session:
        logged = session.scalars(select(ChannelNotification)).all()
    assert [n.outcome for n in logged] == ["rejected_unverified"]


def test_unknown_order_notification_is_rejected(stack):
    payment = create(stack, preferred_channel="alipay").json()
    with stack.db.session() as session:
        attempt = session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_no == payment["channel_order_no"]))
        attempt.order_no = "0" * 32  # our side no longer knows the order the channel will report
        session.commit()
    stack.pay(payment)
    deadline = time.monotonic() + 20
    outcomes: list[str] = []
    while time.monotonic() < deadline and "unknown_order" not in outcomes:
        with stack.db.session() as session:
            outcomes = [n.outcome for n in session.scalars(select(ChannelNotification))]
        time.sleep(0.05)
    assert "unknown_order" in outcomes
    assert ledger_ok(stack)


def test_merchant_cannot_see_or_refund_another_merchants_payment(stack):
    payment = create(stack).json()
    other = stack.key("business", 1)
    assert stack.api.get(f"/v1/payments/{payment['id']}", headers=other).status_code == 404
    refund = stack.api.post(f"/v1/payments/{payment['id']}/refunds", json={}, headers={**stack.key("finance", 1), "Idempotency-Key": "x"})
    assert refund.status_code == 404 and refund.json()["code"] == "payment_not_found"
    assert stack.api.get("/v1/payments", headers=other).json()["data"] == []


def test_lost_notification_is_recovered_by_polling(stack):
    faults = {"lost_notify_rate": 1.0}
    httpx.put(f"{stack.sandbox('alipay').server.base_url}/sandbox/faults", json=faults)
    payment = create(stack, preferred_channel="alipay").json()
    stack.pay(payment)
    done = stack.wait_for(payment["id"], {"succeeded"})
    assert done["status"] == "succeeded"
    assert done["timeline"][-1]["cause"] == "channel_poll"


def test_create_interrupted_by_a_crash_is_closed_at_the_channel_and_failed(stack):
    payment = create(stack, preferred_channel="wechatpay").json()
    with stack.db.session() as session, session.begin():
        row = session.get(Payment, uuid.UUID(payment["id"]))
        # What a crash right after the channel call leaves: the order exists, we never recorded it.
        row.status, row.created_at = "requires_payment_method", row.created_at - timedelta(minutes=10)
        session.scalar(select(PaymentAttempt).where(PaymentAttempt.payment_id == row.id)).status = "creating"
    done = stack.wait_for(payment["id"], {"failed"})
    assert done["status"] == "failed" and done["failure_code"] == "interrupted"
    assert stack.pay(payment).json()["state"] == "closed"


def test_abandoned_order_is_closed_by_the_worker(stack):
    payment = create(stack, preferred_channel="alipay").json()
    with stack.db.session() as session, session.begin():
        session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_no == payment["channel_order_no"])).status = "abandoned"
    deadline = time.monotonic() + 20
    status = "abandoned"
    while status == "abandoned" and time.monotonic() < deadline:
        with stack.db.session() as session:
            status = session.scalar(select(PaymentAttempt.status).where(PaymentAttempt.order_no == payment["channel_order_no"]))
        time.sleep(0.05)
    assert status == "closed"


def _outcomes(stack) -> list[str]:
    with stack.db.session() as session:
        return [n.outcome for n in session.scalars(select(ChannelNotification).order_by(ChannelNotification.id))]


def test_notification_with_a_wrong_amount_is_rejected_and_changes_nothing(stack):
    payment = create(stack, preferred_channel="wechatpay").json()
    running = stack.sandbox("wechatpay")
    running.sandbox.book.get(payment["channel_order_no"]).amount_minor += 1  # the channel reports 12.89
    stack.pay(payment)
    deadline = time.monotonic() + 20
    while "amount_mismatch" not in _outcomes(stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "amount_mismatch" in _outcomes(stack)
    assert stack.api.get(f"/v1/payments/{payment['id']}", headers=stack.key("business")).json()["status"] == "processing"
    assert payable_balance(stack) == 0


def test_duplicated_notifications_book_the_payment_once(stack):
    httpx.put(f"{stack.sandbox('unionpay').server.base_url}/sandbox/faults", json={"duplicate_notify_rate": 1.0})
    payment = create(stack, preferred_channel="unionpay").json()
    stack.pay(payment)
    assert stack.wait_for(payment["id"], {"succeeded"})["status"] == "succeeded"
    deadline = time.monotonic() + 20
    while _outcomes(stack).count("applied") + _outcomes(stack).count("duplicate") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # The poller may book it first; then both notifications are duplicates. Never two bookings.
    assert len(_outcomes(stack)) == 2 and _outcomes(stack).count("applied") <= 1
    assert set(_outcomes(stack)) <= {"applied", "duplicate"}
    collected = stack.api.get("/v1/ledger/transactions", headers=stack.key("finance")).json()["data"]
    assert len(collected) == 1
    assert payable_balance(stack) == 1288 - stack.wait_for(payment["id"], {"succeeded"})["fee_minor"]


def test_face_payment_succeeds_at_once_and_a_strangers_face_is_declined(stack):
    import random

    from juhe.channels.facepay import faces
    from juhe.channels.facepay.device import FaceDevice

    base = stack.sandbox("facepay").server.base_url
    rng = random.Random(7)
    template = faces.synthetic_template(rng)
    enrolled = httpx.post(f"{base}/sandbox/enroll", json={"user_id": "u-lin", "template": list(template)})
    assert enrolled.status_code in (200, 201), enrolled.text
    device = FaceDevice(base, "FPD-0001", seed=1)
    body = {**QR, "scenario": "face", "payer": {"device_id": "FPD-0001", "face_token": device.capture(template)}}
    paid = create(stack, body, key="face-1").json()
    assert paid["status"] == "succeeded", paid
    assert paid["channel"] == "facepay" and paid["fee_minor"] > 0
    stranger = {**body, "payer": {"device_id": "FPD-0001", "face_token": device.capture(faces.synthetic_template(rng))}}
    declined = create(stack, stranger, key="face-2").json()
    assert declined["status"] == "failed" and "FACE_NOT_MATCHED" in declined["failure_message"]
    assert ledger_ok(stack)


def test_charge_without_payer_action_is_never_failed_over_on_an_unknown_outcome(stack, monkeypatch):
    import random

    from juhe.channels.base import ChannelError
    from juhe.channels.facepay import faces
    from juhe.channels.facepay.device import FaceDevice

    base = stack.sandbox("facepay").server.base_url
    template = faces.synthetic_template(random.Random(11))
    httpx.post(f"{base}/sandbox/enroll", json={"user_id": "u-wu", "template": list(template)})
    adapter = stack.runtime.payments.channels["facepay"]
    real_create = adapter.create

    async def answer_lost(request):
        await real_create(request)  # the charge happens at the channel …
        raise ChannelError("read timeout", outcome_known=False, code="timeout")  # … the answer is lost

    monkeypatch.setattr(adapter, "create", answer_lost)
    token = FaceDevice(base, "FPD-0001", seed=3).capture(template)
    payment = create(stack, {**QR, "scenario": "face", "payer": {"device_id": "FPD-0001", "face_token": token}}, key="lost").json()
    done = stack.wait_for(payment["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    with stack.db.session() as session:
        attempts = session.scalars(select(PaymentAttempt).where(PaymentAttempt.payment_id == uuid.UUID(payment["id"]))).all()
    assert [a.status for a in attempts] == ["succeeded"]


def test_a_decline_about_the_request_itself_is_not_failed_over(stack, monkeypatch):
    from juhe.channels.base import Declined

    async def refuse(request):
        return Declined("creditor_account_invalid", "no such creditor account")

    monkeypatch.setattr(stack.runtime.payments.channels["alipay"], "create", refuse)
    payment = create(stack, preferred_channel="alipay", key="req-err").json()
    assert payment["status"] == "failed"
    assert [a.split(":")[0] for a in payment["routing"]["attempts"]] == ["alipay"]
