"""Payments waiting at a gate go on from here: the payer's verification of a stepped-up payment,
and the compliance officer's review of a payment held by sanctions screening."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from juhe.aml.payment_screening import review_screening
from juhe.channels.base import ChannelError
from juhe.db.models import Merchant
from juhe.payments import gates, states
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment
from juhe.payments.service import PaymentError, resumed, submit_to_channels
from juhe.verification import service as verification
from juhe.verification.models import VerificationChallenge


async def verify_payment(ctx: PaymentsContext, merchant_id: uuid.UUID, payment_id: uuid.UUID, otp: str | None,
                         face_token: str | None) -> Payment:  # fmt: skip
    """One attempt at a stepped-up payment's verification; passed, the payment goes to its channels."""
    payment, challenge = await ctx.db.run(_waiting, ctx, merchant_id, payment_id)
    face_passed = await _face(ctx, payment, face_token) if "face" in challenge.methods else None
    payment, outcome, stopped = await ctx.db.run(_check, ctx, payment_id, challenge.id, verification.Attempt(otp, face_token, face_passed))
    if not outcome.passed:
        if outcome.locked:
            return payment
        raise verification.VerificationError(422, "verification_failed", f"not verified: {', '.join(outcome.failures)}",
                                             attempts_left=outcome.attempts_left, failed=outcome.failures)
    await ctx.db.run(_learn, ctx, payment, challenge.request["payer"])
    return stopped if stopped is not None else await _submit(ctx, payment, challenge.request)


def _check(ctx: PaymentsContext, payment_id: uuid.UUID, challenge_id: uuid.UUID, attempt: verification.Attempt):
    with ctx.db.session() as session, session.begin():
        challenge = session.get(VerificationChallenge, challenge_id, with_for_update=True)
        payment = session.get(Payment, payment_id, with_for_update=True)
        outcome = verification.check(session, challenge, payment.customer_id, attempt)
        if not outcome.passed:
            _failed_attempt(session, payment, outcome)
            return payment, outcome, None
        payment.next_action = None
        states.move_payment(session, payment, states.REQUIRES_PAYMENT_METHOD, "verified", {"methods": challenge.methods})
        return payment, outcome, gates.screen(session, payment, challenge.request["payer"])


async def review_held_payment(ctx: PaymentsContext, scope: uuid.UUID | None, screening_id: uuid.UUID, decision: str,
                              actor: str, reason: str) -> Payment | None:  # fmt: skip
    """A compliance officer's review of a held payment: released, it goes to its channels; rejected, it fails."""
    payment, request = await ctx.db.run(_review, ctx, scope, screening_id, decision, actor, reason)
    return payment if request is None else await _submit(ctx, payment, request)


def _review(ctx: PaymentsContext, scope, screening_id, decision: str, actor: str, reason: str) -> tuple[Payment | None, dict | None]:
    with ctx.db.session() as session, session.begin():
        review = review_screening(session, screening_id, decision, actor, reason, merchant_id=scope)
        payment = session.get(Payment, review.payment_id, with_for_update=True) if review.payment_id else None
        if payment is None or payment.status != states.REQUIRES_ACTION:
            return payment, None
        if review.payment_action == "fail":
            return gates.fail_at_gate(session, payment, review.failure_code or "aml_rejected", reason, {"screening_id": str(screening_id)}), None
        payment.next_action = None
        states.move_payment(session, payment, states.REQUIRES_PAYMENT_METHOD, "aml_released", {"screening_id": str(screening_id)})
    return payment, {"scenario": payment.scenario, "preferred_channel": None, "return_url": None, "payer": review.payer or {}}


def _waiting(ctx: PaymentsContext, merchant_id: uuid.UUID, payment_id: uuid.UUID) -> tuple[Payment, VerificationChallenge]:
    with ctx.db.reader() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            raise PaymentError(404, "payment_not_found", f"no payment {payment_id}")
        challenge = session.scalar(select(VerificationChallenge).where(VerificationChallenge.payment_id == payment_id))
    if challenge is None or payment.status != states.REQUIRES_ACTION or (payment.next_action or {}).get("type") != "verify":
        raise PaymentError(409, "nothing_to_verify", f"payment {payment_id} is {payment.status} and waits for no verification")
    return payment, challenge


async def _face(ctx: PaymentsContext, payment: Payment, face_token: str | None) -> bool:
    if not face_token or "facepay" not in ctx.channels or not payment.customer_id:
        return False
    try:
        return (await ctx.channels["facepay"].verify_face(payment.customer_id, face_token)).matched
    except ChannelError as e:
        raise PaymentError(502, "face_check_unavailable", f"the face check could not be made: {e}") from None


def _failed_attempt(session, payment: Payment, outcome: verification.Outcome) -> None:
    verification.record_signal(session, payment.merchant_id, payment.customer_id, payment.currency, "verification_failed")
    if outcome.locked:
        gates.fail_at_gate(session, payment, "verification_locked", f"{verification.ATTEMPTS_MAX} failed verification attempts",
                    {"failed": outcome.failures})


def _learn(ctx: PaymentsContext, payment: Payment, payer: dict) -> None:
    """The payer proved it was them: the risk engine learns the payment's device and place."""
    with ctx.db.reader() as session:
        industry = session.get(Merchant, payment.merchant_id).industry
    ctx.risk.learn(gates.risk_facts(payment, payer, industry))


async def _submit(ctx: PaymentsContext, payment: Payment, request: dict) -> Payment:
    return await submit_to_channels(ctx, payment.id, resumed(payment, request))
