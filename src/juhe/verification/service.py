"""Step-up verification: what a payment the risk engine stepped up must pass before any channel
sees it, and the payers' password-free limits.

The one-time code comes from the payer's authenticator app (TOTP, RFC 6238, when the payer
enrolled one) or by SMS (a 6-digit code valid 5 minutes, from a per-challenge secret). Large
amounts also need a face check, answered by the face-pay service. Three failed attempts lock
the payment: it fails, and the payer's password-free limit drops.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass, field

import pyotp
from sqlalchemy.orm import Session

from juhe.risk.limits import PasswordFreeLimits, PayerLimit, Signal
from juhe.verification.models import PayerAuthenticator, PayerLimitRow, VerificationChallenge

ATTEMPTS_MAX = 3
SMS_STEP_S = 60  # pyotp steps are at most 120 s: a code is kept good for SMS_STEPS_VALID steps
SMS_STEPS_VALID = 5  # five minutes
LIMITS = PasswordFreeLimits()


class VerificationError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra


@dataclass(frozen=True)
class Attempt:
    otp: str | None = None
    face_token: str | None = None
    face_passed: bool | None = None  # what the face service answered, when a face was asked for


@dataclass
class Outcome:
    passed: bool
    locked: bool
    attempts_left: int
    failures: list[str] = field(default_factory=list)


def open_challenge(session: Session, merchant_id: uuid.UUID, payment_id: uuid.UUID, customer_id: str | None,
                   methods: list[str], request: dict, phone: str | None) -> VerificationChallenge:  # fmt: skip
    """A challenge for a stepped-up payment; VerificationError when the payer can be reached by no code."""
    enrolled = customer_id is not None and session.get(PayerAuthenticator, (merchant_id, customer_id)) is not None
    if not enrolled and not phone:
        raise VerificationError(422, "verification_unavailable",
                                "this payment needs a one-time code: give payer.phone, or enrol the customer's authenticator")
    challenge = VerificationChallenge(
        id=uuid.uuid4(), merchant_id=merchant_id, payment_id=payment_id, methods=methods,
        otp_channel="totp" if enrolled else "sms", sms_secret=None if enrolled else pyotp.random_base32(),
        phone=None if enrolled else phone, attempts=0, status="pending", request=request,
    )
    session.add(challenge)
    return challenge


def sms_text(challenge: VerificationChallenge) -> str:
    code = pyotp.TOTP(challenge.sms_secret, interval=SMS_STEP_S).now()
    return f"【Juhe】Your payment verification code is {code}, valid for 5 minutes. Never share it."


def check(session: Session, challenge: VerificationChallenge, customer_id: str | None, attempt: Attempt) -> Outcome:
    """Judge one attempt and record it; the caller moves the payment on (passed) or fails it (locked)."""
    if challenge.status != "pending":
        raise VerificationError(409, "verification_closed", f"the verification is {challenge.status}")
    failures = []
    if not _otp_matches(session, challenge, customer_id, attempt.otp):
        failures.append("otp")
    if "face" in challenge.methods and not attempt.face_passed:
        failures.append("face")
    if not failures:
        challenge.status = "passed"
        return Outcome(True, False, ATTEMPTS_MAX - challenge.attempts)
    challenge.attempts += 1
    if challenge.attempts >= ATTEMPTS_MAX:
        challenge.status = "locked"
    return Outcome(False, challenge.status == "locked", ATTEMPTS_MAX - challenge.attempts, failures)


def _otp_matches(session: Session, challenge: VerificationChallenge, customer_id: str | None, otp: str | None) -> bool:
    if not otp:
        return False
    if challenge.otp_channel == "sms":
        return _sms_code_matches(challenge.sms_secret, otp)
    enrolled = session.get(PayerAuthenticator, (challenge.merchant_id, customer_id))
    return enrolled is not None and pyotp.TOTP(enrolled.secret).verify(otp, valid_window=1)


def _sms_code_matches(secret: str, otp: str) -> bool:
    totp, now = pyotp.TOTP(secret, interval=SMS_STEP_S), time.time()
    return any(hmac.compare_digest(totp.at(now - step * SMS_STEP_S), otp) for step in range(SMS_STEPS_VALID))


def enrol_authenticator(session: Session, merchant_id: uuid.UUID, customer_id: str) -> tuple[str, str]:
    """A new TOTP secret for the customer's authenticator app: (secret, otpauth:// provisioning URI)."""
    if not 0 < len(customer_id) <= 128:
        raise VerificationError(422, "invalid_customer_id", "a customer id is 1–128 characters")
    secret = pyotp.random_base32()
    row = session.get(PayerAuthenticator, (merchant_id, customer_id))
    if row is None:
        session.add(PayerAuthenticator(merchant_id=merchant_id, customer_id=customer_id, secret=secret))
    else:
        row.secret = secret
    return secret, pyotp.TOTP(secret).provisioning_uri(name=customer_id, issuer_name="Juhe")


def password_free_limit(session: Session, merchant_id: uuid.UUID, customer_id: str, currency: str) -> PayerLimit:
    row = session.get(PayerLimitRow, (merchant_id, customer_id, currency))
    if row is None or currency != LIMITS.currency:
        return LIMITS.start() if currency == LIMITS.currency else PayerLimit(0, currency)
    return PayerLimit(row.limit_minor, row.currency, row.good_streak)


def record_signal(session: Session, merchant_id: uuid.UUID, customer_id: str | None, currency: str, signal: Signal) -> None:
    """Lower (risk) or slowly raise (good payment) the payer's password-free limit."""
    if customer_id is None or currency != LIMITS.currency:
        return
    after = LIMITS.after(password_free_limit(session, merchant_id, customer_id, currency), signal)
    row = session.get(PayerLimitRow, (merchant_id, customer_id, currency), with_for_update=True)
    if row is None:
        session.add(PayerLimitRow(merchant_id=merchant_id, customer_id=customer_id, currency=currency,
                                  limit_minor=after.limit_minor, good_streak=after.good_streak))
    else:
        row.limit_minor, row.good_streak = after.limit_minor, after.good_streak
