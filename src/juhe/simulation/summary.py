"""What a back-fill left in the books, read back from them (not from what the driver believes)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from juhe.db.engine import Database
from juhe.payments.models import Payment, Refund
from juhe.recon.models import ReconCase, ReconRun
from juhe.settlement.models import ReserveProofRow, SettlementBatch


def summary(db: Database, merchant_id: uuid.UUID, first_day: date, last_day: date) -> dict:
    with db.reader() as session:
        statuses = dict(session.execute(select(Payment.status, func.count()).where(Payment.merchant_id == merchant_id)
                                        .group_by(Payment.status)).all())
        refunds = dict(session.execute(select(Refund.status, func.count()).where(Refund.merchant_id == merchant_id)
                                       .group_by(Refund.status)).all())
        in_days = ReconRun.business_date.between(first_day, last_day)
        return {
            "payments": sum(statuses.values()), "by_status": statuses, "refunds": refunds,
            "recon_runs": session.scalar(select(func.count()).select_from(ReconRun).where(in_days)),
            "recon_days": session.scalar(select(func.count(func.distinct(ReconRun.business_date))).where(in_days)),
            "open_cases": session.scalar(select(func.count()).select_from(ReconCase).where(
                ReconCase.status == "open", ReconCase.business_date.between(first_day, last_day))),
            "settlement_batches": session.scalar(select(func.count()).select_from(SettlementBatch).where(
                SettlementBatch.merchant_id == merchant_id, SettlementBatch.settlement_date.between(first_day, last_day))),
            "reserve_proven_days": session.scalar(select(func.count()).select_from(ReserveProofRow).where(
                ReserveProofRow.ok, ReserveProofRow.day.between(first_day, last_day))),
        }
