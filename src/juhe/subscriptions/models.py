"""Subscription tables: products and their plans (prices), coupons, the payer's stored mandate,
subscriptions, metered usage, and the invoices each cycle issues."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from juhe.db.models import Base, new_id
from juhe.db.types import utcnow


class Product(Base):
    __tablename__ = "sub_products"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Plan(Base):
    """A price of a product: how much, per what (pricing.Pricing), how often, with what trial."""

    __tablename__ = "sub_plans"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sub_products.id"))
    code: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(8))  # month, year
    pricing: Mapped[dict] = mapped_column()
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Coupon(Base):
    __tablename__ = "sub_coupons"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    code: Mapped[str] = mapped_column(String(64))
    percent_off: Mapped[int] = mapped_column(Integer, default=0)
    amount_off_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    duration: Mapped[str] = mapped_column(String(10))  # once, repeating, forever
    duration_cycles: Mapped[int | None] = mapped_column(Integer)  # for repeating
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mandate(Base):
    """The payer's standing authorisation at a channel (Alipay 周期扣款 agreement)."""

    __tablename__ = "sub_mandates"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(20))
    agreement_no: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))  # active, revoked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Subscription(Base):
    """trialing → active ⇄ past_due (a collection failed, retrying) → canceled; paused between
    periods. `credit_minor` is what downgrades left to the payer's favour, spent on later invoices."""

    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_merchant_id_id", "merchant_id", "id"),
                      Index("ix_subscriptions_status_review_at", "status", "review_at"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(String(128))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sub_plans.id"))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    mandate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sub_mandates.id"))
    coupon_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sub_coupons.id"))
    coupon_cycles_left: Mapped[int | None] = mapped_column(Integer)  # None: forever
    status: Mapped[str] = mapped_column(String(10))
    anchor_at: Mapped[datetime] = mapped_column()
    trial_end: Mapped[datetime | None] = mapped_column()
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    review_at: Mapped[datetime | None] = mapped_column()  # the period's end, or an invoice's next retry
    canceled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageEvent(Base):
    __tablename__ = "sub_usage_events"
    __table_args__ = (UniqueConstraint("merchant_id", "event_id"), Index("ix_sub_usage_events_sub_at", "subscription_id", "at"))
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column()
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"))
    event_id: Mapped[str] = mapped_column(String(128))  # the merchant's: a repeat is counted once
    quantity: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column()


class Invoice(Base):
    """open → paid | uncollectible (dunning ran out). `lines` are the fee, usage, prorations."""

    __tablename__ = "sub_invoices"
    __table_args__ = (Index("ix_sub_invoices_status_next_attempt_at", "status", "next_attempt_at"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[uuid.UUID] = mapped_column(index=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    reason: Mapped[str] = mapped_column(String(20))  # subscription_cycle, proration, final
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list] = mapped_column()
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_applied_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(14))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    payment_id: Mapped[uuid.UUID | None] = mapped_column()  # the collection in flight or the last one
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
