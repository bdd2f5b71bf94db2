"""A payer's history as the credit decision reads it: what the risk engine's feature store has
learned of them (payments, since when, usual amounts), risk blocks at this merchant, and how
their earlier BNPL orders went."""

from __future__ import annotations

import statistics
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from juhe.bnpl.credit import PayerHistory
from juhe.bnpl.models import BnplInstallment, BnplOrder
from juhe.payments.models import Payment
from juhe.risk.models import RiskPayerProfile

BLOCK_WINDOW = timedelta(days=90)


def payer_history(session: Session, merchant_id: uuid.UUID, customer_id: str, currency: str, now: datetime) -> PayerHistory:
    profile = session.get(RiskPayerProfile, customer_id)
    amounts = (profile.amounts or {}).get(currency, []) if profile else []
    first_seen = profile.first_seen_at if profile else None
    blocks = session.scalar(select(func.count()).select_from(Payment).where(
        Payment.merchant_id == merchant_id, Payment.customer_id == customer_id,
        Payment.failure_code == "risk_blocked", Payment.created_at >= now - BLOCK_WINDOW))
    orders = select(BnplOrder.id).where(BnplOrder.merchant_id == merchant_id, BnplOrder.customer_id == customer_id)
    by_status = dict(session.execute(
        select(BnplOrder.status, func.count()).where(BnplOrder.id.in_(orders)).group_by(BnplOrder.status)).all())
    late = session.scalar(select(func.count()).select_from(BnplInstallment).where(
        BnplInstallment.order_id.in_(orders), BnplInstallment.late_fee_minor > 0))
    return PayerHistory(
        payments=profile.payments if profile else 0,
        tenure_days=(now - first_seen).total_seconds() / 86_400 if first_seen else 0.0,
        typical_amount_minor=int(statistics.median(amounts)) if amounts else 0,
        risk_blocks_90d=blocks or 0,
        bnpl_defaults=by_status.get("defaulted", 0),
        bnpl_late_installments=late or 0,
        bnpl_repaid_orders=by_status.get("repaid", 0),
    )
