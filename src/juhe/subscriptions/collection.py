"""Collecting invoices through the payer's mandate, and dunning.

Each attempt is a payment through the payments core (purpose `subscription_invoice`,
scenario `mandate`: the channel charges the stored agreement without the payer), booked like
any sale of the merchant. The commit that books a success marks the invoice paid. A failed
or canceled collection, or a revoked mandate, is retried on `RETRY_AFTER`; when the last
attempt fails the invoice is uncollectible and the subscription canceled (Stripe's default
after its retries)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.channels.base import Scenario
from juhe.money import Money
from juhe.payments.context import PaymentsContext
from juhe.payments.models import Payment
from juhe.payments.service import NewPayment, create_payment
from juhe.subscriptions.models import Invoice, Mandate, Subscription
from juhe.subscriptions.views import invoice_view, subscription_view
from juhe.webhooks.outbox import enqueue_event

PURPOSE_NAME = "subscription_invoice"
RETRY_AFTER = (timedelta(days=1), timedelta(days=3), timedelta(days=5))  # then the subscription is canceled
INVOICES_PER_RUN = 500


class InvoicePurpose:
    own_account = False  # the merchant's revenue, booked like any sale

    def credit_account(self, conn, payment):
        raise AssertionError("an invoice's collection is the merchant's sale")

    def succeeded(self, session: Session, payment: Payment) -> None:
        invoice = session.get(Invoice, uuid.UUID(payment.meta["invoice_id"]), with_for_update=True)
        if invoice.status != "open":
            return
        now = payment.paid_at
        invoice.status, invoice.paid_at, invoice.payment_id, invoice.next_attempt_at = "paid", now, payment.id, None
        invoice.attempts += 1
        enqueue_event(session, invoice.merchant_id, "invoice.paid", invoice_view(invoice))
        sub = session.get(Subscription, invoice.subscription_id, with_for_update=True)
        if sub.status == "past_due":
            sub.status = "active"
            enqueue_event(session, sub.merchant_id, "subscription.updated", subscription_view(sub))


PURPOSE = InvoicePurpose()


def due_for_collection(session: Session, now: datetime) -> list[uuid.UUID]:
    return list(session.scalars(select(Invoice.id).where(
        Invoice.status == "open", Invoice.payment_id.is_(None), Invoice.next_attempt_at <= now)
        .order_by(Invoice.next_attempt_at).limit(INVOICES_PER_RUN)))


def failed_collections(session: Session) -> list[uuid.UUID]:
    ended = select(Payment.id).where(Payment.id == Invoice.payment_id, Payment.status.in_(("failed", "canceled")))
    return list(session.scalars(select(Invoice.id).where(Invoice.status == "open", ended.exists()).limit(INVOICES_PER_RUN)))


async def collect(ctx: PaymentsContext, invoice_id: uuid.UUID, now: datetime) -> str:
    """One attempt: returns attempted, mandate_revoked or skipped."""
    ask = await ctx.db.run(_attempt, ctx, invoice_id, now)
    if ask is None:
        return "skipped"
    if ask == "mandate_revoked":
        return ask
    merchant_id, key, new = ask
    payment, _ = await create_payment(ctx, merchant_id, key, key, new)
    await ctx.db.run(_link, ctx, invoice_id, payment.id)
    return "attempted"


def _attempt(ctx: PaymentsContext, invoice_id: uuid.UUID, now: datetime):
    with ctx.db.session() as session, session.begin():
        invoice = session.get(Invoice, invoice_id, with_for_update=True)
        if invoice.status != "open" or invoice.payment_id is not None:
            return None
        sub = session.get(Subscription, invoice.subscription_id)
        mandate = session.get(Mandate, sub.mandate_id)
        if mandate.status != "active":
            attempt_failed(session, invoice, now, "mandate_revoked")
            return "mandate_revoked"
        new = NewPayment(
            amount=Money(invoice.amount_due_minor, invoice.currency), scenario=Scenario.MANDATE,
            subject=f"Invoice {str(invoice.id)[:8]}", customer_id=sub.customer_id, preferred_channel=mandate.channel,
            payer={"agreement_no": mandate.agreement_no}, metadata={"invoice_id": str(invoice.id)}, purpose=PURPOSE_NAME,
        )
        return invoice.merchant_id, f"invoice:{invoice.id}:attempt:{invoice.attempts + 1}", new


def _link(ctx: PaymentsContext, invoice_id: uuid.UUID, payment_id: uuid.UUID) -> None:
    with ctx.db.session() as session, session.begin():
        invoice = session.get(Invoice, invoice_id, with_for_update=True)
        if invoice.status == "open" and invoice.payment_id is None:
            invoice.payment_id = payment_id


def collection_failed(session: Session, invoice_id: uuid.UUID, now: datetime) -> bool:
    invoice = session.get(Invoice, invoice_id, with_for_update=True)
    payment = session.get(Payment, invoice.payment_id) if invoice.payment_id else None
    if invoice.status != "open" or payment is None or payment.status not in ("failed", "canceled"):
        return False
    attempt_failed(session, invoice, now, payment.failure_code or payment.status)
    return True


def attempt_failed(session: Session, invoice: Invoice, now: datetime, reason: str) -> None:
    invoice.attempts += 1
    invoice.payment_id = None
    sub = session.get(Subscription, invoice.subscription_id, with_for_update=True)
    if invoice.attempts > len(RETRY_AFTER):
        invoice.status, invoice.next_attempt_at = "uncollectible", None
        enqueue_event(session, invoice.merchant_id, "invoice.uncollectible", invoice_view(invoice) | {"failure": reason})
        if sub.status != "canceled":
            sub.status, sub.canceled_at, sub.cancel_reason, sub.review_at = "canceled", now, "payment_failed", None
            enqueue_event(session, sub.merchant_id, "subscription.canceled", subscription_view(sub))
        return
    invoice.next_attempt_at = now + RETRY_AFTER[invoice.attempts - 1]
    enqueue_event(session, invoice.merchant_id, "invoice.payment_failed", invoice_view(invoice) | {"failure": reason})
    if sub.status == "active":
        sub.status = "past_due"
        enqueue_event(session, sub.merchant_id, "subscription.updated", subscription_view(sub))
