"""Invoices: what a cycle, a proration or the last period bills, with the coupon and the credit
balance applied, issued in the caller's transaction (and paid at once when nothing is due)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from juhe.subscriptions import cycles, pricing
from juhe.subscriptions.models import Coupon, Invoice, Plan, Subscription, UsageEvent
from juhe.subscriptions.views import invoice_view
from juhe.webhooks.outbox import enqueue_event


def plan_pricing(plan: Plan) -> pricing.Pricing:
    return pricing.Pricing.from_json(plan.pricing)


def fee_line(sub: Subscription, plan: Plan, start: datetime, end: datetime) -> dict:
    """The recurring fee for [start, end), in advance; in proportion for a short period."""
    fraction = cycles.fraction_of(start, end, sub.anchor_at, plan.interval)
    amount = pricing.share_minor(pricing.period_fee_minor(plan_pricing(plan), sub.quantity), fraction)
    return {"kind": "subscription", "plan": plan.code, "quantity": sub.quantity, "amount_minor": amount,
            "period_start": start.isoformat(), "period_end": end.isoformat(),
            "proration": str(fraction) if fraction != 1 else None}


def usage_line(session: Session, sub: Subscription, plan: Plan, start: datetime, end: datetime) -> dict | None:
    """The metered usage of [start, end), in arrears."""
    price = plan_pricing(plan)
    if price.model != "metered":
        return None
    units = session.scalar(select(func.coalesce(func.sum(UsageEvent.quantity), 0)).where(
        UsageEvent.subscription_id == sub.id, UsageEvent.at >= start, UsageEvent.at < end))
    return {"kind": "usage", "plan": plan.code, "units": int(units), "amount_minor": pricing.usage_minor(price, int(units)),
            "period_start": start.isoformat(), "period_end": end.isoformat()}


def issue(session: Session, sub: Subscription, reason: str, lines: list[dict], start: datetime, end: datetime,
          now: datetime, *, discounted: bool = True) -> Invoice | None:
    """An invoice for `lines` (None when there is nothing to bill)."""
    lines = [line for line in lines if line is not None]
    if not lines:
        return None
    subtotal = sum(line["amount_minor"] for line in lines)
    coupon = session.get(Coupon, sub.coupon_id) if sub.coupon_id and discounted and sub.coupon_cycles_left != 0 else None
    discount = pricing.discount_minor(coupon, subtotal)
    if coupon is not None and sub.coupon_cycles_left is not None:
        sub.coupon_cycles_left -= 1
    credit = min(sub.credit_minor, subtotal - discount)
    sub.credit_minor -= credit
    invoice = Invoice(
        id=uuid.uuid4(), merchant_id=sub.merchant_id, subscription_id=sub.id, reason=reason,
        currency=session.get(Plan, sub.plan_id).currency, lines=lines, subtotal_minor=subtotal, discount_minor=discount,
        credit_applied_minor=credit, amount_due_minor=subtotal - discount - credit, attempts=0, period_start=start,
        period_end=end, created_at=now,
    )
    if invoice.amount_due_minor == 0:
        invoice.status, invoice.paid_at = "paid", now
    else:
        invoice.status, invoice.next_attempt_at = "open", now
    session.add(invoice)
    session.flush()
    enqueue_event(session, sub.merchant_id, "invoice.created", invoice_view(invoice))
    if invoice.status == "paid":
        enqueue_event(session, sub.merchant_id, "invoice.paid", invoice_view(invoice))
    return invoice
