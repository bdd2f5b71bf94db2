"""Our side of a reconciliation: the payments and refunds we booked at one channel in one
business day, as the OURS frame (juhe.recon.frames).

An item's time is when its money moved by our books: a payment's paid_at (for an order we
had already given up, the time we learned it was paid), a refund's last change. Each item
carries the channel fee we booked for it, so that a fee the channel charged differently shows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import polars as pl
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from juhe.payments.models import MerchantChannel, Payment, PaymentAttempt, Refund
from juhe.payments.outbound import OUTBOUND
from juhe.payments.postings import CHANNEL_FEE_KEPT_ON_REFUND, FeeSplit, fees_for, refund_fees
from juhe.recon.frames import OURS, conform, empty

PAYMENT_STATUS = {"succeeded": "succeeded", "pending": "pending", "creating": "pending", "failed": "failed",
                  "closed": "failed", "abandoned": "pending"}
REFUND_STATUS = {"succeeded": "succeeded", "pending": "pending", "failed": "failed"}
TRANSFER_STATUS = {"settled": "succeeded", "rejected": "failed", "pending": "pending"}
PAYOUT_STATUS = {"paid": "succeeded", "rejected": "failed", "submitted": "pending"}


def our_items(session: Session, channel: str, start: datetime, end: datetime) -> pl.DataFrame:
    rows = _payment_rows(session, channel, start, end) + _refund_rows(session, channel, start, end)
    if channel == "bank":
        rows += _transfer_rows(session, start, end)
    return conform(pl.DataFrame(rows, schema=OURS), OURS) if rows else empty(OURS)


def _payment_rows(session: Session, channel: str, start: datetime, end: datetime) -> list[dict]:
    moved = PaymentAttempt.status == "succeeded"
    found = session.execute(
        select(PaymentAttempt, Payment).join(Payment, Payment.id == PaymentAttempt.payment_id)
        .where(PaymentAttempt.channel == channel,
               or_(moved & (PaymentAttempt.updated_at >= start) & (PaymentAttempt.updated_at < end),
                   moved & (Payment.paid_at >= start) & (Payment.paid_at < end),
                   ~moved & (PaymentAttempt.created_at >= start) & (PaymentAttempt.created_at < end)))
    ).all()
    contracts = _channel_fee_bps(session, channel)
    rows = []
    for attempt, payment in found:
        active = attempt.id == payment.active_attempt_id and payment.status == "succeeded"
        at = (payment.paid_at if active else attempt.updated_at) if attempt.status == "succeeded" else attempt.created_at
        if not start <= at < end:
            continue
        fee = payment.channel_fee_minor if active else fees_for(payment.amount_minor, 0, contracts.get(payment.merchant_id, 0)).channel_fee_minor
        rows.append(_row(channel, payment, "payment", attempt.order_no, None, attempt.channel_txn_id, payment.amount_minor,
                         fee if attempt.status == "succeeded" else 0, PAYMENT_STATUS[attempt.status], at,
                         "debit" if payment.scenario in OUTBOUND else "credit"))
    return rows


def _refund_rows(session: Session, channel: str, start: datetime, end: datetime) -> list[dict]:
    found = session.execute(
        select(Refund, PaymentAttempt, Payment).join(PaymentAttempt, PaymentAttempt.id == Refund.attempt_id)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(PaymentAttempt.channel == channel, Refund.updated_at >= start, Refund.updated_at < end)
    ).all()
    before = _refunded_before(session, {payment.id for _, _, payment in found})
    rows = []
    for refund, attempt, payment in found:
        fees = FeeSplit(payment.fee_minor, payment.channel_fee_minor)
        fee = refund_fees(payment.amount_minor, fees, before[refund.id], refund.amount_minor,
                          channel_fee_kept=channel in CHANNEL_FEE_KEPT_ON_REFUND).channel_fee_minor
        rows.append(_row(channel, payment, "refund", attempt.order_no, refund.refund_no, refund.channel_refund_id,
                         refund.amount_minor, fee, REFUND_STATUS[refund.status], refund.updated_at, "debit"))
    return rows


def _transfer_rows(session: Session, start: datetime, end: datetime) -> list[dict]:
    """Batch transfers (payroll, suppliers) and settlement payouts: money out of the reserve account,
    known to the bank by their EndToEndId."""
    from juhe.settlement.models import SettlementBatch
    from juhe.transfers.models import TransferBatch, TransferItem

    rows = []
    items = session.execute(select(TransferItem, TransferBatch.updated_at).join(TransferBatch)
                            .where(TransferBatch.updated_at >= start, TransferBatch.updated_at < end))
    for item, at in items:  # an item settles when its batch last changed
        rows.append(_transfer(item.merchant_id, item.end_to_end_id, item.bank_ref, item.amount_minor, item.currency,
                              TRANSFER_STATUS[item.status], at))
    payouts = session.scalars(select(SettlementBatch).where(
        SettlementBatch.end_to_end_id.is_not(None), SettlementBatch.status.in_(tuple(PAYOUT_STATUS)),
        SettlementBatch.updated_at >= start, SettlementBatch.updated_at < end))
    for batch in payouts:
        rows.append(_transfer(batch.merchant_id, batch.end_to_end_id, batch.bank_ref, batch.net_minor, batch.currency,
                              PAYOUT_STATUS[batch.status], batch.updated_at))
    return rows


def _transfer(merchant_id, end_to_end_id, bank_ref, amount_minor, currency, status, at) -> dict:
    return {"channel": "bank", "merchant_id": str(merchant_id), "kind": "transfer", "order_no": end_to_end_id,
            "refund_no": None, "payment_id": None, "channel_txn_id": bank_ref, "amount_minor": amount_minor,
            "fee_minor": 0, "currency": currency, "direction": "debit", "status": status, "occurred_at": at,
            "counterparty": None}


def _refunded_before(session: Session, payment_ids: set) -> dict:
    """Per refund, what its payment had refunded before it: the booked fee share depends on it."""
    if not payment_ids:
        return {}
    refunds = session.scalars(select(Refund).where(Refund.payment_id.in_(payment_ids), Refund.status != "failed")
                              .order_by(Refund.created_at, Refund.id))
    running: dict = defaultdict(int)
    before = {}
    for refund in refunds:
        before[refund.id] = running[refund.payment_id]
        running[refund.payment_id] += refund.amount_minor
    return before


def _channel_fee_bps(session: Session, channel: str) -> dict:
    return dict(session.execute(select(MerchantChannel.merchant_id, MerchantChannel.channel_fee_bps)
                                .where(MerchantChannel.channel == channel)).all())


def _row(channel, payment, kind, order_no, refund_no, channel_txn_id, amount_minor, fee_minor, status, at, direction) -> dict:
    return {"channel": channel, "merchant_id": str(payment.merchant_id), "kind": kind, "order_no": order_no,
            "refund_no": refund_no, "payment_id": str(payment.id), "channel_txn_id": channel_txn_id,
            "amount_minor": amount_minor, "fee_minor": fee_minor, "currency": payment.currency, "direction": direction,
            "status": status, "occurred_at": at, "counterparty": None}
