"""Plans, subscriptions and invoices as the API, webhooks and console show them."""

from __future__ import annotations


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def plan_view(plan) -> dict:
    return {"id": str(plan.id), "object": "plan", "code": plan.code, "product_id": str(plan.product_id),
            "currency": plan.currency, "interval": plan.interval, "pricing": plan.pricing, "trial_days": plan.trial_days,
            "active": plan.active}


def mandate_view(mandate) -> dict:
    return {"id": str(mandate.id), "object": "mandate", "customer_id": mandate.customer_id, "channel": mandate.channel,
            "agreement_no": mandate.agreement_no, "status": mandate.status, "revoked_at": _iso(mandate.revoked_at)}


def subscription_view(sub) -> dict:
    return {
        "id": str(sub.id), "object": "subscription", "status": sub.status, "customer_id": sub.customer_id,
        "plan_id": str(sub.plan_id), "quantity": sub.quantity, "mandate_id": str(sub.mandate_id),
        "coupon_id": str(sub.coupon_id) if sub.coupon_id else None, "anchor_at": _iso(sub.anchor_at),
        "trial_end": _iso(sub.trial_end), "current_period_start": _iso(sub.period_start),
        "current_period_end": _iso(sub.period_end), "cancel_at_period_end": sub.cancel_at_period_end,
        "pause_at_period_end": sub.pause_at_period_end, "credit_minor": sub.credit_minor,
        "canceled_at": _iso(sub.canceled_at), "cancel_reason": sub.cancel_reason,
    }


def invoice_view(invoice) -> dict:
    return {
        "id": str(invoice.id), "object": "invoice", "subscription_id": str(invoice.subscription_id), "status": invoice.status,
        "reason": invoice.reason, "currency": invoice.currency, "lines": invoice.lines, "subtotal_minor": invoice.subtotal_minor,
        "discount_minor": invoice.discount_minor, "credit_applied_minor": invoice.credit_applied_minor,
        "amount_due_minor": invoice.amount_due_minor, "attempts": invoice.attempts,
        "next_attempt_at": _iso(invoice.next_attempt_at), "payment_id": str(invoice.payment_id) if invoice.payment_id else None,
        "period_start": _iso(invoice.period_start), "period_end": _iso(invoice.period_end), "paid_at": _iso(invoice.paid_at),
        "created_at": _iso(invoice.created_at),
    }
