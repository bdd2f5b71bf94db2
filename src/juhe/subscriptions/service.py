"""Catalogue, mandates and subscriptions: subscribe, change plan or seats with proration,
cancel or pause at the period's end, resume, record usage. Each function runs in the
caller's transaction; a refusal raises SubscriptionError before anything is written.

Semantics follow Stripe Billing where they apply: the anchor fixes the billing day (the 31st
bills on the last day of shorter months); a start off the anchor bills a short first period in
proportion; recurring fees are billed in advance, metered usage in arrears (Lago); an
upgrade mid-period invoices the difference for the time left at once, a downgrade leaves it as
credit for the next invoices; a cancel or pause takes effect at the period's end."""

from __future__ import annotations

import calendar
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.money import check_currency
from juhe.subscriptions import billing, cycles, pricing
from juhe.subscriptions.errors import SubscriptionError
from juhe.subscriptions.models import Coupon, Invoice, Mandate, Plan, Product, Subscription, UsageEvent
from juhe.subscriptions.views import mandate_view, subscription_view
from juhe.webhooks.outbox import enqueue_event

TRIAL_DAYS_MAX = 730
QUANTITY_MAX = 1_000_000
MANDATE_CHANNELS = ("alipay",)  # channels whose adapters charge a stored agreement (Scenario.MANDATE)


def add_product(session: Session, merchant_id: uuid.UUID, name: str) -> Product:
    product = Product(id=uuid.uuid4(), merchant_id=merchant_id, name=name)
    session.add(product)
    session.flush()
    return product


def add_plan(session: Session, merchant_id: uuid.UUID, product_id: uuid.UUID, code: str, currency: str, interval: str,
             price: dict, trial_days: int = 0) -> Plan:
    product = session.get(Product, product_id)
    if product is None or product.merchant_id != merchant_id:
        raise SubscriptionError(404, "product_not_found", f"no product {product_id}")
    if interval not in cycles.MONTHS:
        raise SubscriptionError(422, "invalid_interval", f"interval is one of {', '.join(cycles.MONTHS)}")
    if not 0 <= trial_days <= TRIAL_DAYS_MAX:
        raise SubscriptionError(422, "invalid_trial", f"trial_days is 0–{TRIAL_DAYS_MAX}")
    try:
        parsed = pricing.Pricing.from_json(price)
        check_currency(currency)
    except (pricing.PricingError, ValueError, KeyError, TypeError) as e:
        raise SubscriptionError(422, "invalid_pricing", str(e)) from None
    plan = Plan(id=uuid.uuid4(), merchant_id=merchant_id, product_id=product_id, code=code, currency=currency,
                interval=interval, pricing=parsed.as_json(), trial_days=trial_days, active=True)
    try:
        with session.begin_nested():
            session.add(plan)
            session.flush()
    except IntegrityError:
        raise SubscriptionError(409, "plan_exists", f"a plan {code} exists") from None
    return plan


def add_coupon(session: Session, merchant_id: uuid.UUID, code: str, percent_off: int, amount_off_minor: int, duration: str,
               duration_cycles: int | None) -> Coupon:
    if (percent_off > 0) == (amount_off_minor > 0) or not 0 <= percent_off <= 100 or amount_off_minor < 0:
        raise SubscriptionError(422, "invalid_coupon", "a coupon takes either percent_off (1–100) or amount_off_minor")
    if duration not in ("once", "repeating", "forever") or (duration == "repeating") != bool(duration_cycles):
        raise SubscriptionError(422, "invalid_coupon", "duration is once, forever, or repeating with duration_cycles")
    coupon = Coupon(id=uuid.uuid4(), merchant_id=merchant_id, code=code, percent_off=percent_off,
                    amount_off_minor=amount_off_minor, duration=duration, duration_cycles=duration_cycles)
    session.add(coupon)
    session.flush()
    return coupon


def add_mandate(session: Session, merchant_id: uuid.UUID, customer_id: str, channel: str, agreement_no: str, now: datetime) -> Mandate:
    """The agreement the payer signed at the channel (its number comes from the channel's signing flow)."""
    if channel not in MANDATE_CHANNELS:
        raise SubscriptionError(422, "mandate_channel_not_supported", f"mandates are taken by {', '.join(MANDATE_CHANNELS)}")
    mandate = Mandate(id=uuid.uuid4(), merchant_id=merchant_id, customer_id=customer_id, channel=channel,
                      agreement_no=agreement_no, status="active", created_at=now)
    session.add(mandate)
    session.flush()
    return mandate


def revoke_mandate(session: Session, merchant_id: uuid.UUID, mandate_id: uuid.UUID, now: datetime) -> Mandate:
    mandate = _own(session, Mandate, merchant_id, mandate_id, "mandate_not_found")
    if mandate.status == "active":
        mandate.status, mandate.revoked_at = "revoked", now
        enqueue_event(session, merchant_id, "mandate.revoked", mandate_view(mandate))
    return mandate


@dataclass(frozen=True, slots=True)
class NewSubscription:
    customer_id: str
    plan_code: str
    mandate_id: uuid.UUID
    quantity: int = 1
    coupon_code: str | None = None
    anchor_day: int | None = None  # monthly plans: bill on this day of the month (1–31)


def subscribe(session: Session, merchant_id: uuid.UUID, new: NewSubscription, now: datetime) -> Subscription:
    plan = _plan(session, merchant_id, new.plan_code)
    mandate = _usable_mandate(session, merchant_id, new.mandate_id, new.customer_id)
    coupon = _coupon(session, merchant_id, new.coupon_code)
    _check_quantity(new.quantity)
    if new.anchor_day is not None and (plan.interval != "month" or not 1 <= new.anchor_day <= 31):
        raise SubscriptionError(422, "invalid_anchor", "anchor_day (1–31) is for monthly plans")
    trial_end = now + timedelta(days=plan.trial_days) if plan.trial_days else None
    base = trial_end or now
    sub = Subscription(
        id=uuid.uuid4(), merchant_id=merchant_id, customer_id=new.customer_id, plan_id=plan.id, quantity=new.quantity,
        mandate_id=mandate.id, coupon_id=coupon.id if coupon else None,
        coupon_cycles_left=None if coupon is None or coupon.duration == "forever" else (coupon.duration_cycles or 1),
        anchor_at=anchor_at(base, new.anchor_day), trial_end=trial_end, cancel_at_period_end=False,
        pause_at_period_end=False, credit_minor=0, created_at=now,
    )
    session.add(sub)
    if trial_end is not None:
        sub.status, sub.period_start, sub.period_end, sub.review_at = "trialing", now, trial_end, trial_end
        session.flush()
    else:
        start_period(session, sub, plan, now, now)
    enqueue_event(session, merchant_id, "subscription.created", subscription_view(sub))
    return sub


def anchor_at(base: datetime, anchor_day: int | None) -> datetime:
    """An anchor on `anchor_day` at or after `base`, dated in a month that has that day (so that
    later periods clamp from the real day: the 31st stays the 31st after February)."""
    if anchor_day is None:
        return base
    month_start = base.replace(day=1)
    for back in range(0, 12):
        candidate = cycles.add_months(month_start, -back)
        if calendar.monthrange(candidate.year, candidate.month)[1] >= anchor_day:
            return candidate.replace(day=anchor_day)
    raise AssertionError("every year has a month of 31 days")


def start_period(session: Session, sub: Subscription, plan: Plan, start: datetime, now: datetime,
                 usage: dict | None = None) -> Invoice | None:
    """Enter the period that contains `start` (short when `start` is off the anchor) and bill it in advance."""
    _, end = cycles.first_period(start, sub.anchor_at, plan.interval)
    sub.status, sub.period_start, sub.period_end, sub.review_at = "active", start, end, end
    session.flush()
    return billing.issue(session, sub, "subscription_cycle", [usage, billing.fee_line(sub, plan, start, end)], start, end, now)


def change_plan(session: Session, merchant_id: uuid.UUID, sub_id: uuid.UUID, plan_code: str | None, quantity: int | None,
                now: datetime, proration_date: datetime | None = None) -> tuple[Subscription, Invoice | None]:
    """Switch plan or seats now; the time left in the period is prorated (Stripe's `create_prorations`:
    a credit for the old price, a charge for the new). Upgrades invoice the difference at once."""
    sub = _locked(session, merchant_id, sub_id)
    at = proration_date or now
    if sub.status == "canceled":
        raise SubscriptionError(409, "proration_across_canceled_period", "the subscription is canceled: no period to prorate")
    if sub.status == "paused":
        raise SubscriptionError(409, "subscription_paused", "resume the subscription before changing it")
    if not sub.period_start <= at < sub.period_end or at > now:
        raise SubscriptionError(422, "proration_date_outside_period",
                                f"proration_date must be within the current period, up to now ({sub.period_start.isoformat()} – now)")
    old_plan = session.get(Plan, sub.plan_id)
    new_plan = _plan(session, merchant_id, plan_code) if plan_code else old_plan
    if (new_plan.currency, new_plan.interval) != (old_plan.currency, old_plan.interval):
        raise SubscriptionError(422, "plan_not_compatible", "the new plan must have the same currency and interval")
    new_quantity = sub.quantity if quantity is None else quantity
    _check_quantity(new_quantity)
    invoice = None
    if sub.status != "trialing":
        invoice = _prorate(session, sub, old_plan, new_plan, new_quantity, at, now)
    sub.plan_id, sub.quantity = new_plan.id, new_quantity
    enqueue_event(session, merchant_id, "subscription.updated", subscription_view(sub))
    return sub, invoice


def _prorate(session: Session, sub: Subscription, old: Plan, new: Plan, quantity: int, at: datetime, now: datetime) -> Invoice | None:
    fraction = cycles.fraction_of(at, sub.period_end, sub.anchor_at, old.interval)
    credit = pricing.share_minor(pricing.period_fee_minor(billing.plan_pricing(old), sub.quantity), fraction)
    charge = pricing.share_minor(pricing.period_fee_minor(billing.plan_pricing(new), quantity), fraction)
    if charge <= credit:
        sub.credit_minor += credit - charge  # a downgrade: spent on the next invoices
        return None
    lines = [
        {"kind": "proration_credit", "plan": old.code, "quantity": sub.quantity, "amount_minor": -credit, "proration": str(fraction)},
        {"kind": "proration_charge", "plan": new.code, "quantity": quantity, "amount_minor": charge, "proration": str(fraction)},
    ]
    # The coupon already discounted this period's fee; a proration is not discounted again.
    return billing.issue(session, sub, "proration", lines, at, sub.period_end, now, discounted=False)


def cancel_at_period_end(session: Session, merchant_id: uuid.UUID, sub_id: uuid.UUID, now: datetime, *, pause: bool = False) -> Subscription:
    sub = _locked(session, merchant_id, sub_id)
    if sub.status in ("canceled", "paused"):
        raise SubscriptionError(409, "illegal_transition", f"a subscription that is {sub.status} cannot be {'paused' if pause else 'canceled'}")
    if pause:
        sub.pause_at_period_end = True
    else:
        sub.cancel_at_period_end = True
    enqueue_event(session, merchant_id, "subscription.updated", subscription_view(sub))
    return sub


def resume(session: Session, merchant_id: uuid.UUID, sub_id: uuid.UUID, now: datetime) -> Subscription:
    """A paused subscription starts again now, billed to its next anchor date."""
    sub = _locked(session, merchant_id, sub_id)
    if sub.status != "paused":
        raise SubscriptionError(409, "illegal_transition", f"a subscription that is {sub.status} cannot be resumed")
    _usable_mandate(session, merchant_id, sub.mandate_id, sub.customer_id)
    sub.pause_at_period_end = False
    start_period(session, sub, session.get(Plan, sub.plan_id), now, now)
    enqueue_event(session, merchant_id, "subscription.resumed", subscription_view(sub))
    return sub


def record_usage(session: Session, merchant_id: uuid.UUID, sub_id: uuid.UUID, event_id: str, quantity: int, at: datetime) -> bool:
    """A metered event, counted once per event_id. Returns False for a repeat."""
    sub = _own(session, Subscription, merchant_id, sub_id, "subscription_not_found")
    if billing.plan_pricing(session.get(Plan, sub.plan_id)).model != "metered":
        raise SubscriptionError(422, "plan_not_metered", "usage is recorded on metered plans only")
    if sub.status == "canceled" or not 0 < quantity <= QUANTITY_MAX:
        raise SubscriptionError(422, "invalid_usage", "usage is a positive quantity on a live subscription")
    if session.scalar(select(UsageEvent.id).where(UsageEvent.merchant_id == merchant_id, UsageEvent.event_id == event_id)):
        return False
    session.add(UsageEvent(id=uuid.uuid4(), merchant_id=merchant_id, subscription_id=sub.id, event_id=event_id,
                           quantity=quantity, at=at))
    session.flush()
    return True


def _plan(session: Session, merchant_id: uuid.UUID, code: str) -> Plan:
    plan = session.scalar(select(Plan).where(Plan.merchant_id == merchant_id, Plan.code == code))
    if plan is None or not plan.active:
        raise SubscriptionError(404, "plan_not_found", f"no plan {code}")
    return plan


def _coupon(session: Session, merchant_id: uuid.UUID, code: str | None) -> Coupon | None:
    if code is None:
        return None
    coupon = session.scalar(select(Coupon).where(Coupon.merchant_id == merchant_id, Coupon.code == code))
    if coupon is None:
        raise SubscriptionError(404, "coupon_not_found", f"no coupon {code}")
    return coupon


def _usable_mandate(session: Session, merchant_id: uuid.UUID, mandate_id: uuid.UUID, customer_id: str) -> Mandate:
    mandate = _own(session, Mandate, merchant_id, mandate_id, "mandate_not_found")
    if mandate.customer_id != customer_id:
        raise SubscriptionError(404, "mandate_not_found", f"no mandate {mandate_id} of customer {customer_id}")
    if mandate.status != "active":
        raise SubscriptionError(409, "mandate_revoked", f"mandate {mandate_id} was revoked; the payer must sign a new one")
    return mandate


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= QUANTITY_MAX:
        raise SubscriptionError(422, "invalid_quantity", f"quantity is 1–{QUANTITY_MAX}")


def _own(session: Session, model, merchant_id: uuid.UUID, row_id: uuid.UUID, code: str):
    row = session.get(model, row_id)
    if row is None or row.merchant_id != merchant_id:
        raise SubscriptionError(404, code, f"no {model.__name__.lower()} {row_id}")
    return row


def _locked(session: Session, merchant_id: uuid.UUID, sub_id: uuid.UUID) -> Subscription:
    _own(session, Subscription, merchant_id, sub_id, "subscription_not_found")
    return session.get(Subscription, sub_id, with_for_update=True, populate_existing=True)
