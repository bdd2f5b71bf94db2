"""Payments and refunds as the API and webhooks show them. Channel-neutral by construction."""

from __future__ import annotations

from juhe.money import Money
from juhe.payments.models import Payment, PaymentEvent, Refund


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def payment_view(p: Payment, timeline: list[PaymentEvent] | None = None) -> dict:
    view = {
        "id": str(p.id),
        "object": "payment",
        "status": p.status,
        "amount": Money(p.amount_minor, p.currency).to_json(),
        "amount_refunded_minor": p.refunded_minor,
        "amount_refundable_minor": p.amount_minor - p.refunded_minor if p.status == "succeeded" else 0,
        "fee_minor": p.fee_minor,
        "scenario": p.scenario,
        "subject": p.subject,
        "customer_id": p.customer_id,
        "store_id": str(p.store_id) if p.store_id else None,
        "business_line_id": str(p.business_line_id) if p.business_line_id else None,
        "channel": p.channel,
        "channel_order_no": p.channel_order_no,
        "next_action": p.next_action if p.status == "processing" or p.status == "requires_action" else None,
        "routing": p.routing,
        "risk": p.risk,
        "failure_code": p.failure_code,
        "failure_message": p.failure_message,
        "metadata": p.meta or {},
        "expires_at": _iso(p.expires_at),
        "paid_at": _iso(p.paid_at),
        "created_at": _iso(p.created_at),
    }
    if timeline is not None:
        view["timeline"] = [
            {"at": _iso(e.at), "from": e.from_status, "to": e.to_status, "cause": e.cause, "detail": e.detail} for e in timeline
        ]
    return view


def refund_view(r: Refund) -> dict:
    return {
        "id": str(r.id),
        "object": "refund",
        "payment_id": str(r.payment_id),
        "status": r.status,
        "amount": Money(r.amount_minor, r.currency).to_json(),
        "reason": r.reason,
        "failure_code": r.failure_code,
        "created_at": _iso(r.created_at),
        "updated_at": _iso(r.updated_at),
    }
