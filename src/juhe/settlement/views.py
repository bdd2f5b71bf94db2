"""How settlements look to merchants: the batch as JSON, and its statement as CSV."""

from __future__ import annotations

import csv
import io
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.money import Money
from juhe.settlement.models import SettlementBatch, SettlementItem
from juhe.transfers.service import masked_account

STATEMENT_COLUMNS = ("settlement_id", "settlement_date", "kind", "payment_id", "refund_id", "business_date",
                     "currency", "gross", "fee", "net")


def batch_view(batch: SettlementBatch) -> dict:
    return {
        "id": str(batch.id), "object": "settlement", "status": batch.status,
        "settlement_date": batch.settlement_date.isoformat(), "group": batch.group_key,
        "store_id": str(batch.store_id) if batch.store_id else None,
        "business_line_id": str(batch.business_line_id) if batch.business_line_id else None,
        "currency": batch.currency, "gross_minor": batch.gross_minor, "fee_minor": batch.fee_minor,
        "net_minor": batch.net_minor, "item_count": batch.item_count, "note": batch.note,
        "end_to_end_id": batch.end_to_end_id, "payout_file": batch.payout_file_id is not None,
        "payout_account": {"name": batch.creditor_name, "account": masked_account(batch.creditor_account),
                           "bank": batch.creditor_bank},
        "reason_code": batch.reason_code, "reason_text": batch.reason_text, "bank_ref": batch.bank_ref,
        "created_at": batch.created_at.isoformat() if batch.created_at else None,
    }


def batch_statement(session: Session, batch: SettlementBatch) -> tuple[str, str]:
    """A batch's statement as CSV and the file name it is downloaded as (API and console alike)."""
    items = session.scalars(select(SettlementItem).where(SettlementItem.batch_id == batch.id)
                            .order_by(SettlementItem.business_date, SettlementItem.kind, SettlementItem.id)).all()
    return statement_csv(batch, items), f"settlement-{batch.settlement_date}-{batch.id}.csv"


def statement_csv(batch: SettlementBatch, items: Iterable[SettlementItem]) -> str:
    """Each item with its gross, fee and net (refunds negative), then the batch's total line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    date = batch.settlement_date.isoformat()
    for item in items:
        writer.writerow([
            batch.id, date, item.kind, item.payment_id, item.refund_id or "", item.business_date.isoformat(),
            item.currency, *(_amount(v, item.currency) for v in (item.gross_minor, item.fee_minor, item.net_minor)),
        ])
    writer.writerow([batch.id, date, "total", "", "", "", batch.currency,
                     *(_amount(v, batch.currency) for v in (batch.gross_minor, batch.fee_minor, batch.net_minor))])
    return out.getvalue()


def _amount(minor: int, currency: str) -> str:
    return Money(minor, currency).decimal_text()
