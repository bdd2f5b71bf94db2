"""What a new payment must pass before any channel sees it: the risk decision (allow, step up,
block), the payer's password-free limit, and for payments out the sanctions screening.

A payment that stops at a gate waits in `requires_action` with a `next_action` saying what
for (`verify`: a one-time code, and a face for large amounts; `aml_review`: a compliance
officer), or fails (`risk_blocked`). The gates are decided and recorded in the commit that
creates the payment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from juhe.aml.errors import AmlError
from juhe.aml.payment_screening import screen_parties_for_payment
from juhe.db.models import Merchant
from juhe.payments import outbound, states
from juhe.payments.context import PaymentsContext, RiskDecision
from juhe.payments.models import Payment
from juhe.payments.outcomes import emit
from juhe.risk.dbstore import bound_session
from juhe.verification import service as verification

PASSWORD_FREE = "password_free"  # payer flag: the merchant charges under a password-free (免密) agreement


def risk_facts(payment: Payment, payer: dict, industry: str | None) -> dict:
    return {"id": str(payment.id), "merchant_id": str(payment.merchant_id), "amount_minor": payment.amount_minor,
            "currency": payment.currency, "customer_id": payment.customer_id, "scenario": payment.scenario,
            "payer": payer, "industry": industry, "at": payment.created_at,
            "store_id": str(payment.store_id) if payment.store_id else None,
            "terminal_id": (payment.meta or {}).get("terminal_id")}


@dataclass(frozen=True, slots=True)
class Gate:
    stopped: Payment | None = None  # the payment if it stops here (blocked, or waiting); None: on to the channels
    sms: tuple[str, str] | None = None  # a code to send once the decision is committed


def before_channels(ctx: PaymentsContext, session: Session, payment: Payment, request: dict) -> Gate:
    """Decide every gate of a new payment, in the caller's transaction."""
    industry = session.get(Merchant, payment.merchant_id).industry
    with bound_session(session):  # the risk store reads and writes in this payment's transaction
        decision = ctx.risk.assess(risk_facts(payment, request["payer"], industry))
    decision = _password_free(session, payment, request["payer"], decision)
    payment.risk = {"action": decision.action, "score": decision.score, "reasons": list(decision.reasons)} | decision.details
    if decision.action == "block":
        verification.record_signal(session, payment.merchant_id, payment.customer_id, payment.currency, "block")
        return Gate(fail_at_gate(session, payment, "risk_blocked", "; ".join(decision.reasons), payment.risk))
    if decision.action == "step_up":
        return Gate(*_step_up(session, payment, decision, request))
    return Gate(screen(session, payment, request["payer"]))


def _password_free(session: Session, payment: Payment, payer: dict, decision: RiskDecision) -> RiskDecision:
    """Above the payer's password-free limit, an otherwise allowed payment needs the payer's code."""
    if decision.action != "allow" or str(payer.get(PASSWORD_FREE, "")).lower() != "true" or not payment.customer_id:
        return decision
    limit = verification.password_free_limit(session, payment.merchant_id, payment.customer_id, payment.currency)
    if verification.LIMITS.allows(limit, payment.amount_minor, payment.currency):
        verification.record_signal(session, payment.merchant_id, payment.customer_id, payment.currency, "good_payment")
        return decision
    return RiskDecision("step_up", decision.score, (*decision.reasons, f"above the password-free limit of {limit.limit_minor}"),
                        ("otp",), decision.details)


def _step_up(session: Session, payment: Payment, decision: RiskDecision, request: dict):
    try:
        challenge = verification.open_challenge(session, payment.merchant_id, payment.id, payment.customer_id,
                                                list(decision.methods), request, request["payer"].get("phone"))
    except verification.VerificationError as e:
        return fail_at_gate(session, payment, e.code, str(e), payment.risk), None
    verification.record_signal(session, payment.merchant_id, payment.customer_id, payment.currency, "step_up")
    payment.next_action = {"type": "verify", "methods": list(decision.methods), "otp_channel": challenge.otp_channel}
    states.move_payment(session, payment, states.REQUIRES_ACTION, "risk_step_up", payment.risk)
    return payment, (challenge.phone, verification.sms_text(challenge)) if challenge.otp_channel == "sms" else None


def screen(session: Session, payment: Payment, payer: dict) -> Payment | None:
    """Payments out are screened against the watch lists; a hit holds them for review."""
    if not outbound.is_outbound(payment):
        return None
    try:
        found = screen_parties_for_payment(session, payment.merchant_id, payment.id, payer)
    except AmlError as e:
        return fail_at_gate(session, payment, e.code, str(e), None)
    if not found.hold:
        return None
    payment.next_action = {"type": "aml_review", "screening_id": str(found.screening_id)}
    states.move_payment(session, payment, states.REQUIRES_ACTION, "aml_hold", {"screening_id": str(found.screening_id)})
    return payment


def fail_at_gate(session: Session, payment: Payment, code: str, message: str, detail: dict | None) -> Payment:
    payment.failure_code, payment.failure_message = code, message
    states.move_payment(session, payment, states.FAILED, code, detail)
    outbound.release(session, payment)
    emit(session, payment, "payment.failed")
    return payment
