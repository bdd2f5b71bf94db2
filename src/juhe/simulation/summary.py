"""What a back-fill left in the books, read back from them (not from what the driver believes)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from sqlalchemy import func, select

from juhe.bnpl.models import BnplInstallment, BnplOrder
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.installments.models import InstallmentSale
from juhe.payments.models import Payment, Refund
from juhe.qrcodes.models import QrCode
from juhe.recon.models import ReconCase, ReconRun
from juhe.satisfaction import service as satisfaction
from juhe.settlement.models import ReserveProofRow, SettlementBatch
from juhe.subscriptions.models import Invoice, Subscription


def summary(db: Database, merchant_id: uuid.UUID, first_day: date, last_day: date) -> dict:
    with db.reader() as session:
        statuses = dict(session.execute(select(Payment.status, func.count()).where(Payment.merchant_id == merchant_id)
                                        .group_by(Payment.status)).all())
        refunds = dict(session.execute(select(Refund.status, func.count()).where(Refund.merchant_id == merchant_id)
                                       .group_by(Refund.status)).all())
        in_days = ReconRun.business_date.between(first_day, last_day)
        return {
            "payments": sum(statuses.values()), "by_status": statuses, "refunds": refunds,
            "by_scenario": _grouped(session, Payment.scenario, Payment.merchant_id == merchant_id),
            **_scenarios(session, merchant_id),
            "recon_runs": session.scalar(select(func.count()).select_from(ReconRun).where(in_days)),
            "recon_days": session.scalar(select(func.count(func.distinct(ReconRun.business_date))).where(in_days)),
            "open_cases": session.scalar(select(func.count()).select_from(ReconCase).where(
                ReconCase.status == "open", ReconCase.business_date.between(first_day, last_day))),
            "settlement_batches": session.scalar(select(func.count()).select_from(SettlementBatch).where(
                SettlementBatch.merchant_id == merchant_id, SettlementBatch.settlement_date.between(first_day, last_day))),
            "reserve_proven_days": session.scalar(select(func.count()).select_from(ReserveProofRow).where(
                ReserveProofRow.ok, ReserveProofRow.day.between(first_day, last_day))),
        }


def _grouped(session, column, *where) -> dict[str, int]:
    return dict(session.execute(select(column, func.count()).where(*where).group_by(column)).all())


def _scenarios(session, merchant_id: uuid.UUID) -> dict:
    """Aggregated QR codes, installments, BNPL and subscriptions, as their own tables hold them."""
    orders = _grouped(session, BnplOrder.status, BnplOrder.merchant_id == merchant_id)
    captured = sum(n for status, n in orders.items() if status not in ("approved", "canceled", "expired"))
    due = session.scalar(select(func.count()).select_from(BnplInstallment).where(
        BnplInstallment.merchant_id == merchant_id, BnplInstallment.due_at <= utcnow()))
    late = session.scalar(select(func.count()).select_from(BnplInstallment).where(
        BnplInstallment.merchant_id == merchant_id, BnplInstallment.late_fee_minor > 0))
    return {
        # A wallet's in-app page at a store: only a scanned aggregated code makes one.
        "qr_code_payments": session.scalar(select(func.count()).select_from(Payment).where(
            Payment.merchant_id == merchant_id, Payment.store_id.is_not(None), Payment.scenario.in_(("wap", "jsapi")))),
        "till_codes": session.scalar(select(func.count()).select_from(QrCode).where(
            QrCode.merchant_id == merchant_id, QrCode.kind == "dynamic")),
        "installment_sales": session.scalar(select(func.count()).select_from(InstallmentSale).join(
            Payment, Payment.id == InstallmentSale.payment_id).where(InstallmentSale.merchant_id == merchant_id,
                                                                     Payment.status == "succeeded")),
        "bnpl_orders": orders, "bnpl_installments_due": due,
        # Rates over what could be late or default by the last day (installments due, orders captured).
        "bnpl_late_rate": round(late / due, 4) if due else 0.0,
        "bnpl_default_rate": round(orders.get("defaulted", 0) / captured, 4) if captured else 0.0,
        "subscriptions": _grouped(session, Subscription.status, Subscription.merchant_id == merchant_id),
        "invoices": _grouped(session, Invoice.status, Invoice.merchant_id == merchant_id),
        "satisfaction": {k: v for k, v in satisfaction.figures(session, merchant_id, datetime.min.replace(tzinfo=timezone.utc)).items()
                         if k in ("ratings", "mean_score", "satisfied_rate")},
    }
