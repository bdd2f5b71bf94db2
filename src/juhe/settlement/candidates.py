"""What a merchant's run may settle: succeeded payments and refunds that reconciliation matched
(or finance released), that no batch has claimed, booked before the end of the last business
date due — each with the exact net its booking moved on the merchant's payable account.

The net is read from the ledger rather than recomputed: a payment's payable credit is
amount − fee_minor; a refund's payable debit is the refund less the fee given back, as
`payments.postings.refund_fees` worked it out (cumulatively) when the refund was booked.
Settling exactly what was booked is what keeps payouts and payables equal."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from juhe.ledger import payable_code
from juhe.ledger.posting import ACCOUNTS, ENTRIES
from juhe.payments.models import Payment, Refund
from juhe.recon.models import MATCHED, ReconItem
from juhe.settlement.calendar import business_date, zone_of
from juhe.settlement.models import SettlementItem, SettlementProfile, SettlementRelease
from juhe.settlement.planning import SettleableItem
from juhe.settlement.profiles import cutoff_time

ITEMS_PER_RUN_MAX = 50_000  # per merchant and run; the rest, oldest last, wait for the next run
IN_CHUNK = 5_000


def load(session: Session, profile: SettlementProfile, end: datetime) -> list[SettleableItem]:
    payments = _payments(session, profile, end)
    refunds = _refunds(session, profile, end)
    nets = _payable_legs(session, profile.merchant_id, [p.ledger_txn_id for p in payments] + [r.ledger_txn_id for r, _ in refunds])
    zone, cutoff = zone_of(profile.timezone), cutoff_time(profile.cutoff)
    items = []
    for p in payments:
        account_id, amount = nets.get(p.ledger_txn_id) or (_payable_of(session, p), 0)
        net = -amount  # the payable was credited
        # Paired check: the booking and the payment row agree on the fee.
        assert net == p.amount_minor - p.fee_minor, f"payment {p.id}: payable credit {net} ≠ amount − fee"
        items.append(SettleableItem("payment", p.id, None, p.store_id, p.business_line_id, account_id, p.currency,
                                    business_date(p.paid_at, zone, cutoff), p.amount_minor, p.fee_minor))
    for r, p in refunds:
        account_id, amount = nets.get(r.ledger_txn_id, (None, 0))
        if account_id is None:
            continue  # a refund that left the payable untouched has nothing to settle
        items.append(SettleableItem("refund", p.id, r.id, p.store_id, p.business_line_id, account_id, r.currency,
                                    business_date(r.created_at, zone, cutoff), -r.amount_minor, amount - r.amount_minor))
    return items


def _payments(session: Session, profile: SettlementProfile, end: datetime) -> list[Payment]:
    matched = exists().where(ReconItem.kind == "payment", ReconItem.payment_id == Payment.id,
                             ReconItem.refund_id.is_(None), ReconItem.category == MATCHED)
    released = exists().where(SettlementRelease.kind == "payment", SettlementRelease.source_id == Payment.id)
    claimed = exists().where(SettlementItem.kind == "payment", SettlementItem.payment_id == Payment.id,
                             SettlementItem.claim_key.is_not(None))
    return list(session.scalars(
        select(Payment).where(
            Payment.merchant_id == profile.merchant_id, Payment.status == "succeeded", Payment.currency == profile.currency,
            Payment.ledger_txn_id.is_not(None), Payment.paid_at < end, matched | released, ~claimed,
        ).order_by(Payment.paid_at, Payment.id).limit(ITEMS_PER_RUN_MAX)
    ))


def _refunds(session: Session, profile: SettlementProfile, end: datetime) -> list[tuple[Refund, Payment]]:
    matched = exists().where(ReconItem.kind == "refund", ReconItem.refund_id == Refund.id, ReconItem.category == MATCHED)
    released = exists().where(SettlementRelease.kind == "refund", SettlementRelease.source_id == Refund.id)
    claimed = exists().where(SettlementItem.kind == "refund", SettlementItem.refund_id == Refund.id,
                             SettlementItem.claim_key.is_not(None))
    # Only refunds of the payment's own attempt: an automatic refund of an abandoned or second
    # order nets to zero with its own collection and is never the merchant's to settle.
    rows = session.execute(
        select(Refund, Payment).join(Payment, and_(Payment.id == Refund.payment_id, Payment.active_attempt_id == Refund.attempt_id))
        .where(Refund.merchant_id == profile.merchant_id, Refund.status == "succeeded", Refund.currency == profile.currency,
               Refund.ledger_txn_id.is_not(None), Refund.created_at < end, matched | released, ~claimed)
        .order_by(Refund.created_at, Refund.id).limit(ITEMS_PER_RUN_MAX)
    )
    return [(r, p) for r, p in rows]


def _payable_of(session: Session, payment: Payment) -> uuid.UUID:
    """The payable of a payment whose fee took all of it (the booking then has no payable leg)."""
    code = payable_code(payment.merchant_id, payment.store_id, payment.business_line_id)
    return session.scalar(select(ACCOUNTS.c.id).where(ACCOUNTS.c.code == code, ACCOUNTS.c.currency == payment.currency))


def _payable_legs(session: Session, merchant_id: uuid.UUID, txn_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[uuid.UUID, int]]:
    """Per ledger transaction, its entry on one of the merchant's payables: (account, amount)."""
    legs: dict[uuid.UUID, tuple[uuid.UUID, int]] = {}
    for start in range(0, len(txn_ids), IN_CHUNK):
        chunk = txn_ids[start : start + IN_CHUNK]
        rows = session.execute(
            select(ENTRIES.c.transaction_id, ENTRIES.c.account_id, ENTRIES.c.amount_minor)
            .join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id)
            .where(ENTRIES.c.transaction_id.in_(chunk), ACCOUNTS.c.merchant_id == merchant_id,
                   ACCOUNTS.c.code.like("payable:%"))
        )
        for txn_id, account_id, amount in rows:
            assert txn_id not in legs, f"ledger transaction {txn_id} touches two payables"
            legs[txn_id] = (account_id, amount)
    return legs
