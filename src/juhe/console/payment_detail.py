"""Everything the payment page shows, read in one session: the payment and its timeline, the
channel notifications of its orders, refunds, ledger postings (with account codes) and webhooks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.db.models import Account
from juhe.ledger.queries import get_transaction
from juhe.payments.models import ChannelNotification, Payment, PaymentAttempt, PaymentEvent, Refund
from juhe.webhooks.models import WebhookDelivery, WebhookEvent

NOTIFICATIONS_SHOWN = 50
WEBHOOK_EVENTS_SCANNED = 500  # events of the merchant since the payment; its own are among the first


@dataclass
class PaymentDetail:
    payment: Payment
    timeline: list[PaymentEvent]
    notifications: list[ChannelNotification]
    refunds: list[Refund]
    postings: list[dict]
    webhooks: list[tuple[WebhookEvent, list[WebhookDelivery]]]


def find_payment(session: Session, payment_id: uuid.UUID, scope: uuid.UUID | None) -> Payment | None:
    payment = session.get(Payment, payment_id)
    if payment is None or (scope is not None and payment.merchant_id != scope):
        return None
    return payment


def payment_detail(session: Session, payment: Payment) -> PaymentDetail:
    timeline = session.scalars(select(PaymentEvent).where(PaymentEvent.payment_id == payment.id).order_by(PaymentEvent.id)).all()
    orders = session.scalars(select(PaymentAttempt.order_no).where(PaymentAttempt.payment_id == payment.id)).all()
    notifications = session.scalars(select(ChannelNotification).where(ChannelNotification.order_no.in_(orders))
                                    .order_by(ChannelNotification.id).limit(NOTIFICATIONS_SHOWN)).all() if orders else []
    refunds = session.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.created_at)).all()
    return PaymentDetail(payment, list(timeline), list(notifications), list(refunds),
                         _postings(session, payment, refunds), _webhooks(session, payment, refunds))


def _postings(session: Session, payment: Payment, refunds: list[Refund]) -> list[dict]:
    conn = session.connection()
    ids = [i for i in [payment.ledger_txn_id, *(r.ledger_txn_id for r in refunds)] if i is not None]
    txns = [t for t in (get_transaction(conn, payment.merchant_id, i) for i in ids) if t is not None]
    account_ids = {uuid.UUID(e["account_id"]) for t in txns for e in t["entries"]}
    codes = dict(session.execute(select(Account.id, Account.code).where(Account.id.in_(account_ids))).all()) if account_ids else {}
    for txn in txns:
        for entry in txn["entries"]:
            entry["account_code"] = codes.get(uuid.UUID(entry["account_id"]), entry["account_id"])
    return txns


def _webhooks(session: Session, payment: Payment, refunds: list[Refund]) -> list[tuple[WebhookEvent, list[WebhookDelivery]]]:
    ours = {str(payment.id), *(str(r.id) for r in refunds)}
    events = session.scalars(select(WebhookEvent).where(WebhookEvent.merchant_id == payment.merchant_id,
                                                       WebhookEvent.created_at >= payment.created_at)
                             .order_by(WebhookEvent.created_at).limit(WEBHOOK_EVENTS_SCANNED)).all()
    mine = [e for e in events if str((e.payload or {}).get("id")) in ours]
    deliveries = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id.in_([e.id for e in mine]))).all() if mine else []
    return [(e, [d for d in deliveries if d.event_id == e.id]) for e in mine]
