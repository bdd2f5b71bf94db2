"""The movements frame (juhe.aml.movements) of a merchant, built from what the database records.

The monitored account is the merchant (one per currency), as Juhe's customer. Four sources:

| source         | direction | counterparty                                   | when                 |
|----------------|-----------|------------------------------------------------|----------------------|
| payment        | in        | the payer's customer_id                        | paid_at              |
| refund         | out       | the refunded payment's customer_id             | the refund succeeded |
| payment out    | out       | creditor account (or name) as screened, or as  | paid_at              |
| (b2b, crossb.) |           | payments.metadata names it                     |                      |
| transfer item  | out       | creditor_account of the batch line             | the batch was sent   |

Only money that moved counts: succeeded payments and refunds, transfer lines not rejected. A
counterparty nobody named is `unidentified:<movement>`: we cannot claim two unknown payers are
one. Movement ids are `<source>:<id>`, so an alert's evidence leads back to the record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from juhe.aml.errors import AmlError
from juhe.aml.models import AmlScreening
from juhe.aml.movements import CROSS_BORDER_CHANNEL, MOVEMENTS, check_movements, empty_movements
from juhe.payments.models import Payment, Refund
from juhe.payments.outbound import OUTBOUND
from juhe.pii import values
from juhe.transfers.models import TransferBatch, TransferItem

MOVEMENTS_PER_MERCHANT_MAX = 1_000_000  # one merchant's period in one frame; run shorter periods beyond
LOOKUP_CHUNK = 500  # payment ids per IN (...) when finding screened counterparties
SUCCEEDED = "succeeded"
UNIDENTIFIED = "unidentified:"


def merchant_account(merchant_id: uuid.UUID) -> str:
    return f"merchant:{merchant_id}"


def merchant_of_account(account_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(account_id.removeprefix("merchant:")) if account_id.startswith("merchant:") else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Source:
    """One kind of record as movements: a query with labelled columns id, amount_minor, currency,
    at (the movement's time) and the source's own, and how a row becomes a movement."""

    name: str
    query: Callable[[uuid.UUID], Select]
    at: Callable[[], object]
    direction: str
    counterparty: Callable[[object], str | None]
    channel: Callable[[object], str]


def _payments_in(merchant_id: uuid.UUID) -> Select:
    return select(Payment.id, Payment.amount_minor, Payment.currency, Payment.paid_at.label("at"),
                  Payment.customer_id, Payment.channel).where(
        Payment.merchant_id == merchant_id, Payment.status == SUCCEEDED, Payment.scenario.not_in(OUTBOUND),
        Payment.paid_at.is_not(None))


def _refunds(merchant_id: uuid.UUID) -> Select:
    return select(Refund.id, Refund.amount_minor, Refund.currency, Refund.updated_at.label("at"),
                  Payment.customer_id, Payment.channel).join(Payment, Payment.id == Refund.payment_id).where(
        Refund.merchant_id == merchant_id, Refund.status == SUCCEEDED)


def _payments_out(merchant_id: uuid.UUID) -> Select:
    return select(Payment.id, Payment.amount_minor, Payment.currency, Payment.paid_at.label("at"), Payment.meta,
                  Payment.scenario, Payment.channel).where(
        Payment.merchant_id == merchant_id, Payment.status == SUCCEEDED, Payment.scenario.in_(OUTBOUND),
        Payment.paid_at.is_not(None))


def _transfers(merchant_id: uuid.UUID) -> Select:
    return select(TransferItem.id, TransferItem.amount_minor, TransferItem.currency, TransferBatch.created_at.label("at"),
                  TransferItem.creditor_account, TransferItem.creditor_name).join(
        TransferBatch, TransferBatch.id == TransferItem.batch_id).where(
        TransferItem.merchant_id == merchant_id, TransferItem.status != "rejected")


def _transfer_creditor(row) -> str:
    # Sealed at rest and bound to their row: this Core query opens them itself (juhe.pii).
    account = values.open_text(row.creditor_account, "transfer_items", "creditor_account", row.id)
    return account or values.open_text(row.creditor_name, "transfer_items", "creditor_name", row.id)


def _creditor_of(row) -> str | None:
    meta = row.meta or {}
    return meta.get("creditor_account") or meta.get("payee_wallet_id") or meta.get("creditor_name") or meta.get("payee_name")


SOURCES = (
    Source("payment", _payments_in, lambda: Payment.paid_at, "in", lambda r: r.customer_id, lambda r: r.channel or "unknown"),
    Source("refund", _refunds, lambda: Refund.updated_at, "out", lambda r: r.customer_id, lambda r: r.channel or "unknown"),
    Source("payment_out", _payments_out, lambda: Payment.paid_at, "out", _creditor_of,
           lambda r: CROSS_BORDER_CHANNEL if r.scenario == CROSS_BORDER_CHANNEL else (r.channel or "bank")),
    Source("transfer", _transfers, lambda: TransferBatch.created_at, "out",
           _transfer_creditor, lambda r: "bank"),
)


def movements_between(session: Session, merchant_id: uuid.UUID, start: datetime, end: datetime) -> pl.DataFrame:
    """The merchant's movements with start <= occurred_at < end."""
    rows = []
    for source in SOURCES:
        query = source.query(merchant_id).where(source.at() >= start, source.at() < end).limit(MOVEMENTS_PER_MERCHANT_MAX + 1)
        rows.extend((source, row) for row in session.execute(query))
        if len(rows) > MOVEMENTS_PER_MERCHANT_MAX:
            raise AmlError("too_many_movements", f"merchant {merchant_id} has more than {MOVEMENTS_PER_MERCHANT_MAX} "
                                                 f"movements from {start.isoformat()} to {end.isoformat()}; run shorter periods")
    return _frame(session, merchant_id, rows)


def last_movements_before(session: Session, merchant_id: uuid.UUID, cutoff: datetime) -> pl.DataFrame:
    """Per currency, the merchant's last movement before `cutoff`: how long an account was idle
    is measured from it, without loading months of history."""
    found: dict[str, tuple[Source, object]] = {}
    for source in SOURCES:
        for row in session.execute(_latest_per_currency(source, merchant_id, cutoff)):
            if row.currency not in found or row.at > found[row.currency][1].at:
                found[row.currency] = (source, row)
    return _frame(session, merchant_id, list(found.values()))


def _latest_per_currency(source: Source, merchant_id: uuid.UUID, cutoff: datetime) -> Select:
    query = source.query(merchant_id).where(source.at() < cutoff)
    ranked = query.add_columns(func.row_number().over(partition_by=query.selected_columns.currency,
                                                      order_by=source.at().desc()).label("rank")).subquery()
    return select(ranked).where(ranked.c.rank == 1)


def _frame(session: Session, merchant_id: uuid.UUID, rows: Iterable[tuple[Source, object]]) -> pl.DataFrame:
    rows = list(rows)
    if not rows:
        return empty_movements()
    screened = _screened_counterparties(session, merchant_id, [r.id for s, r in rows if s.name == "payment_out"])
    account = merchant_account(merchant_id)
    columns: dict[str, list] = {name: [] for name in MOVEMENTS}
    for source, row in rows:
        movement_id = f"{source.name}:{row.id}"
        counterparty = screened.get(row.id) if source.name == "payment_out" else None
        values = (movement_id, account, counterparty or source.counterparty(row) or UNIDENTIFIED + movement_id,
                  source.direction, row.amount_minor, row.currency, row.at, source.channel(row), "corporate")
        for name, value in zip(MOVEMENTS, values):
            columns[name].append(value)
    return check_movements(pl.DataFrame(columns, schema=MOVEMENTS))


def _screened_counterparties(session: Session, merchant_id: uuid.UUID, payment_ids: list[uuid.UUID]) -> dict:
    """payment id → the payee as screened before the payment went out (account, else name)."""
    found = {}
    for at in range(0, len(payment_ids), LOOKUP_CHUNK):
        chunk = payment_ids[at:at + LOOKUP_CHUNK]
        for payment_id, parties in session.execute(select(AmlScreening.payment_id, AmlScreening.parties).where(
                AmlScreening.merchant_id == merchant_id, AmlScreening.payment_id.in_(chunk))):
            payee = next((p for p in parties if p.get("role") == "payee"), None)
            if payee is not None:
                found[payment_id] = payee.get("account") or payee.get("name")
    return found
