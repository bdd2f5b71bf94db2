"""Risk decisions on every payment, and step-up verification end to end through the API: a code
by SMS or from the payer's authenticator app, a face check for large amounts, three failures
lock the payment; password-free limits that step up what is above them."""

from __future__ import annotations

import random

import httpx
import pyotp
import pytest

from juhe.channels.facepay import faces
from juhe.channels.facepay.device import FaceDevice
from juhe.ledger import verify_ledger

PHONE = "+8613800138000"


def pay(stack, key: str, amount_minor: int, **payer):
    body = {"amount_minor": amount_minor, "currency": "CNY", "scenario": "qr", "subject": "phone",
            "customer_id": "cust-lin", "preferred_channel": "alipay", "payer": {"device_id": "dev-1", **payer}}
    return stack.api.post("/v1/payments", json=body, headers=stack.key("business") | {"Idempotency-Key": key})


def verify(stack, payment_id: str, **answer):
    return stack.api.post(f"/v1/payments/{payment_id}/verification", json=answer, headers=stack.key("business"))


def test_every_payment_carries_its_risk_decision(stack):
    payment = pay(stack, "small", 1288).json()
    assert payment["status"] == "processing"
    assert payment["risk"]["action"] == "allow" and "rules_version" in payment["risk"]


def test_a_large_payment_is_stepped_up_and_passes_with_the_sms_code(stack):
    payment = pay(stack, "big-sms", 2_500_000, phone=PHONE).json()  # 25,000.00: always verified
    assert payment["status"] == "requires_action" and payment["channel"] is None
    assert payment["next_action"]["type"] == "verify" and payment["next_action"]["otp_channel"] == "sms"
    assert payment["next_action"]["methods"] == ["otp", "face"]
    code = stack.runtime.payments.sms.last_code(PHONE)
    assert code is not None and len(code) == 6
    wrong = verify(stack, payment["id"], otp="000000" if code != "000000" else "111111")
    assert wrong.status_code == 422 and wrong.json()["code"] == "verification_failed"
    assert wrong.json()["attempts_left"] == 2 and set(wrong.json()["failed"]) == {"otp", "face"}
    template = faces.synthetic_template(random.Random(5))
    base = stack.sandbox("facepay").server.base_url
    httpx.post(f"{base}/sandbox/enroll", json={"user_id": "cust-lin", "template": list(template)})
    face = FaceDevice(base, "FPD-0001", seed=9).capture(template)
    passed = verify(stack, payment["id"], otp=code, face_token=face)
    assert passed.status_code == 200, passed.text
    assert passed.json()["status"] == "processing" and passed.json()["channel"] == "alipay"


def test_the_authenticator_app_code_verifies_without_sms(stack):
    enrolled = stack.api.post("/v1/customers/authenticator", json={"customer_id": "cust-lin"}, headers=stack.key("business"))
    assert enrolled.status_code == 201 and enrolled.json()["provisioning_uri"].startswith("otpauth://totp/")
    payment = pay(stack, "big-totp", 2_100_000).json()
    assert payment["next_action"]["otp_channel"] == "totp"
    code = pyotp.TOTP(enrolled.json()["secret"]).now()
    locked_face = verify(stack, payment["id"], otp=code)  # the face is missing: one failed attempt
    assert locked_face.status_code == 422 and locked_face.json()["failed"] == ["face"]


@pytest.mark.parametrize("stack", ["sqlite_url", "pg_url"], indirect=True)
def test_three_failed_attempts_lock_the_payment_and_lower_the_password_free_limit(stack):
    payment = pay(stack, "locked", 2_200_000, phone=PHONE).json()
    for left in (2, 1):
        assert verify(stack, payment["id"], otp="999999").json()["attempts_left"] == left
    locked = verify(stack, payment["id"], otp="999999")
    assert locked.status_code == 200 and locked.json()["status"] == "failed"
    assert locked.json()["failure_code"] == "verification_locked"
    again = verify(stack, payment["id"], otp="999999")
    assert again.status_code == 409 and again.json()["code"] == "nothing_to_verify"
    small = pay(stack, "after-lock", 30_000, phone=PHONE, password_free="true").json()  # ¥300 < the ¥500 a new payer has
    assert small["status"] == "requires_action" and "password-free limit" in " ".join(small["risk"]["reasons"])


def test_password_free_payments_pass_below_the_limit_and_step_up_above_it(stack):
    below = pay(stack, "pf-1", 40_000, password_free="true").json()
    assert below["status"] == "processing"
    above = pay(stack, "pf-2", 60_000, password_free="true", phone=PHONE).json()
    assert above["status"] == "requires_action" and above["next_action"]["methods"] == ["otp"]


def test_a_step_up_the_payer_cannot_be_reached_for_fails_and_holds_nothing(stack):
    payment = pay(stack, "unreachable", 2_300_000).json()  # no phone, no authenticator
    assert payment["status"] == "failed" and payment["failure_code"] == "verification_unavailable"
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_verifying_a_payment_that_waits_for_nothing_is_refused(stack):
    payment = pay(stack, "plain", 1500).json()
    refused = verify(stack, payment["id"], otp="123456")
    assert refused.status_code == 409 and refused.json()["code"] == "nothing_to_verify"
    other = stack.api.post(f"/v1/payments/{payment['id']}/verification", json={"otp": "1"}, headers=stack.key("business", 1))
    assert other.status_code == 404
