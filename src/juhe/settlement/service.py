"""Settlement runs: for a date D, each merchant's reconciled (or released) payments and refunds
whose settlement date has come are grouped into batches, each batch's net is held on its
payable accounts, and the batches are recorded for payout (payouts.py files and sends them).

One merchant, one database transaction: its run row (unique per merchant and date, so a rerun
of D does nothing), its batches, the holds and the claimed items (a claim is unique in the
database, so nothing settles twice, whatever runs at the same time)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import structlog
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from juhe.db.engine import Database
from juhe.db.models import Merchant
from juhe.db.types import utcnow
from juhe.ledger import Entry, Post, ensure_account, post_many
from juhe.ledger.posting import ACCOUNTS
from juhe.settlement import calendar, candidates
from juhe.settlement.errors import SettlementError
from juhe.settlement.models import SettlementBatch, SettlementHold, SettlementItem, SettlementProfile, SettlementRun
from juhe.settlement.planning import PlannedBatch, plan_batches
from juhe.settlement.profiles import cutoff_time
from juhe.safety.crashpoints import hit as crash_point
from juhe.ledger.accounts import BANK_RESERVE
from juhe.transfers.service import HOLD_DAYS

log = structlog.get_logger()
BANK_ZONE = calendar.DEFAULT_TIMEZONE  # "today" is the bank's day: a run for a later date would pay early


@dataclass
class MerchantRun:
    merchant_id: uuid.UUID
    outcome: str  # settled, nothing_due, already_run (a rerun), conflict (a concurrent run claimed an item)
    batch_ids: list[uuid.UUID] = field(default_factory=list)
    due_through: date | None = None


@dataclass
class RunResult:
    settlement_date: date
    working_day: bool
    merchants: list[MerchantRun] = field(default_factory=list)
    without_profile: int = 0  # merchants that cannot be settled until they have a profile

    def as_json(self) -> dict:
        return {
            "object": "settlement_run", "date": self.settlement_date.isoformat(), "working_day": self.working_day,
            "without_profile": self.without_profile,
            "merchants": [{"merchant_id": str(m.merchant_id), "outcome": m.outcome,
                           "due_through": m.due_through.isoformat() if m.due_through else None,
                           "batch_ids": [str(b) for b in m.batch_ids]} for m in self.merchants],
        }


def run_settlement(ctx_or_db, day: date, *, merchant_id: uuid.UUID | None = None, now: datetime | None = None) -> RunResult:
    """Settle date `day` for every merchant with a profile (or only `merchant_id`)."""
    db: Database = getattr(ctx_or_db, "db", ctx_or_db)
    now = now or utcnow()
    if day > now.astimezone(calendar.zone_of(BANK_ZONE)).date():
        raise SettlementError(422, "settlement_date_in_future", f"{day} has not come yet; money is paid out on the day")
    try:
        working = calendar.is_working_day(day)
    except calendar.CalendarError as error:
        raise SettlementError(422, error.code, str(error)) from None
    profiles, without = _profiles(db, merchant_id)
    result = RunResult(day, working, without_profile=without)
    if not working:
        return result
    for profile in profiles:
        try:
            result.merchants.append(_settle_merchant(db, profile, day, now))
        except calendar.CalendarError as error:  # a cycle reaching back past the published calendar
            raise SettlementError(422, error.code, str(error)) from None
    return result


def _profiles(db: Database, merchant_id: uuid.UUID | None) -> tuple[list[SettlementProfile], int]:
    with db.reader() as session:
        if merchant_id is not None:
            if session.get(Merchant, merchant_id) is None:
                raise SettlementError(404, "merchant_not_found", f"no merchant {merchant_id}")
            profile = session.get(SettlementProfile, merchant_id)
            if profile is None:
                raise SettlementError(409, "settlement_profile_missing", "the merchant has no settlement profile yet")
            return [profile], 0
        profiles = list(session.scalars(select(SettlementProfile).order_by(SettlementProfile.merchant_id)))
        without = session.scalar(select(func.count()).select_from(Merchant).where(
            ~exists().where(SettlementProfile.merchant_id == Merchant.id)))
        return profiles, without


def _settle_merchant(db: Database, profile: SettlementProfile, day: date, now: datetime) -> MerchantRun:
    through = calendar.due_through(day, profile.cycle)
    result = MerchantRun(profile.merchant_id, "settled", due_through=through)
    try:
        with db.session() as session, session.begin():
            run = SettlementRun(merchant_id=profile.merchant_id, settlement_date=day, due_through=through)
            session.add(run)
            session.flush()  # a rerun of the date stops here, on the unique (merchant, date)
            available = _lock_funds(session, profile.merchant_id, profile.currency)
            end = calendar.business_day_end(through, profile.timezone, cutoff_time(profile.cutoff))
            items = candidates.load(session, profile, end)
            planned = plan_batches(items, profile.split_by, available)
            result.batch_ids = [_store_batch(session, run, profile, batch, now) for batch in planned]
    except IntegrityError:
        with db.reader() as session:
            if session.scalar(select(SettlementRun.id).where(
                    SettlementRun.merchant_id == profile.merchant_id, SettlementRun.settlement_date == day)) is None:
                # Not a rerun: a concurrent run of another date claimed an item first. Nothing of this
                # merchant was written; its next run takes what is left.
                log.warning("settlement.claim_conflict", merchant_id=str(profile.merchant_id), date=day.isoformat())
                result.outcome = "conflict"
                return result
            result.outcome = "already_run"
            result.batch_ids = list(session.scalars(select(SettlementBatch.id).where(
                SettlementBatch.merchant_id == profile.merchant_id, SettlementBatch.settlement_date == day)))
        return result
    if not result.batch_ids:
        result.outcome = "nothing_due"
    return result


def _lock_funds(session: Session, merchant_id: uuid.UUID, currency: str) -> dict[uuid.UUID, int]:
    """Lock the merchant's payables and the reserve account, in id order like the ledger's own
    locks, before reading what may settle: a concurrent run of this merchant waits here and then
    sees this one's claims. Returns what each payable can still give."""
    reserve = ensure_account(session.connection(), BANK_RESERVE, currency, owner_type="platform")
    payables = (ACCOUNTS.c.merchant_id == merchant_id) & ACCOUNTS.c.code.like("payable:%") & (ACCOUNTS.c.currency == currency)
    rows = session.execute(
        select(ACCOUNTS.c.id, ACCOUNTS.c.code, ACCOUNTS.c.credits_posted, ACCOUNTS.c.debits_posted, ACCOUNTS.c.debits_pending)
        .where(payables | (ACCOUNTS.c.id == reserve)).order_by(ACCOUNTS.c.id).with_for_update()
    )
    return {row.id: row.credits_posted - row.debits_posted - row.debits_pending
            for row in rows if row.code.startswith("payable:")}


def _store_batch(session: Session, run: SettlementRun, profile: SettlementProfile, planned: PlannedBatch, now: datetime) -> uuid.UUID:
    batch = SettlementBatch(
        id=uuid.uuid4(), merchant_id=profile.merchant_id, run_id=run.id, settlement_date=run.settlement_date,
        group_key=planned.group_key, store_id=planned.store_id, business_line_id=planned.business_line_id,
        currency=planned.currency, status=planned.status, gross_minor=planned.gross_minor, fee_minor=planned.fee_minor,
        net_minor=planned.net_minor, item_count=len(planned.items), note=_note(planned) or None,
        creditor_name=profile.payout_name, creditor_account=profile.payout_account, creditor_bank=profile.payout_bank,
    )
    if planned.holds:
        batch.end_to_end_id = f"S{batch.id.hex}"  # 33 characters of the pain.001 reference alphabet
    session.add(batch)
    session.flush()
    holds = _hold(session, batch, planned, now)
    session.add_all(
        SettlementHold(merchant_id=batch.merchant_id, batch_id=batch.id, payable_account_id=hold.payable_account_id,
                       amount_minor=hold.amount_minor, hold_id=txn.id)
        for hold, txn in zip(planned.holds, holds)
    )
    session.add_all(
        SettlementItem(merchant_id=batch.merchant_id, batch_id=batch.id, kind=i.kind, payment_id=i.payment_id,
                       refund_id=i.refund_id, claim_key=i.claim_key, business_date=i.business_date, currency=i.currency,
                       gross_minor=i.gross_minor, fee_minor=i.fee_minor, net_minor=i.net_minor,
                       payable_account_id=i.payable_account_id)
        for i in planned.items
    )
    session.flush()
    crash_point("settlement.batch")
    return batch.id


def _hold(session: Session, batch: SettlementBatch, planned: PlannedBatch, now: datetime):
    if not planned.holds:
        return []
    conn = session.connection()
    reserve = ensure_account(conn, BANK_RESERVE, batch.currency, owner_type="platform")
    expires_at = now + timedelta(days=HOLD_DAYS)
    meta = {"settlement_id": str(batch.id), "settlement_date": batch.settlement_date.isoformat()}
    return post_many(conn, [
        Post(f"settlement:{batch.id}:{hold.payable_account_id}:hold",
             (Entry(hold.payable_account_id, hold.amount_minor), Entry(reserve, -hold.amount_minor)),
             batch.merchant_id, f"settlement {batch.settlement_date} payout", meta, pending=True, expires_at=expires_at)
        for hold in planned.holds
    ], now)


def _note(planned: PlannedBatch) -> str:
    reasons = {"negative_net": "refunds exceed collections", "insufficient_balance": "the payable has less available"}
    return "; ".join(
        f"carried forward: {c.item_count} item(s) netting {c.net_minor} on payable {c.payable_account_id} "
        f"({reasons[c.reason]})" for c in planned.carried
    )
