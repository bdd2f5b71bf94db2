"""Payouts: held settlement batches go to the bank as one pain.001 per merchant (a credit
transfer per batch), and each transfer's pain.002 status settles its batch.

Like batch transfers (transfers/service.py, whose bank access and backoff this shares): the file
is stored, and the batches marked submitted, in one commit before anything is sent, so a crash
loses nothing — the poller resends the stored file when the bank has not got it (the bank keeps
one copy per MsgId). Accepted (ACSC): every hold of the batch is captured — Dr payable, Cr
reserve:bank, the money has left the reserve account. Rejected: the holds are voided, the money
is back on the merchant's payables, the bank's reason is kept, and the batch's items are
released to settle again in a later run."""

from __future__ import annotations


import uuid
from collections import defaultdict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from juhe.channels.bank import pain001
from juhe.channels.bank.transfers import TRANSFERS_PER_BATCH_MAX, TransferItem, check_transfer
from juhe.channels.base import ChannelError
from juhe.db.types import utcnow
from juhe.ledger import Capture, Void, post_many
from juhe.ledger.posting import TXNS
from juhe.money import Money
from juhe.payments.context import PaymentsContext
from juhe.payments.numbers import channel_number
from juhe.monitor.alerts import raise_alert
from juhe.settlement.models import PayoutFile, SettlementBatch, SettlementHold, SettlementItem
from juhe.settlement.views import batch_view
from juhe.transfers.service import POLL_BATCH_MAX, bank_of, poll_delay
from juhe.webhooks.outbox import enqueue_event

FILING_MAX = TRANSFERS_PER_BATCH_MAX  # held batches filed per call; the rest go next time
REMITTANCE_MAX = 140


async def poll_payouts(ctx: PaymentsContext) -> int:
    """File and send held batches, then settle submitted files from the bank's status reports.
    The worker calls this; returns how many files it sent or polled."""
    if "bank" not in ctx.channels:
        return 0
    sent = await ctx.db.run(file_held_batches, ctx)
    for file_id in sent:
        await send_file(ctx, file_id)
    due = await ctx.db.run(_due, ctx)
    for file_id in due:
        await poll_file(ctx, file_id)
    return len(sent) + len(due)


def _due(ctx: PaymentsContext) -> list[uuid.UUID]:
    with ctx.db.reader() as session:
        return list(session.scalars(select(PayoutFile.id).where(
            PayoutFile.status == "submitted", PayoutFile.next_poll_at <= utcnow()).limit(POLL_BATCH_MAX)).all())


def _payout(ctx: PaymentsContext, file_id: uuid.UUID) -> PayoutFile:
    with ctx.db.reader() as session:
        return session.get(PayoutFile, file_id)


def _sent(ctx: PaymentsContext, file_id: uuid.UUID):
    """The file's message id and its transfers exactly as sent, with their execution dates."""
    payout = _payout(ctx, file_id)
    return payout.msg_id, pain001.read(payout.document).transfers


def file_held_batches(ctx: PaymentsContext) -> list[uuid.UUID]:
    """Write one payout file per merchant (and currency) for its held batches; returns the new files' ids."""
    bank = bank_of(ctx)
    files = []
    with ctx.db.session() as session, session.begin():
        # Locked (PostgreSQL) so that two pollers never file the same batch twice; on SQLite the
        # write transaction already serialises them, and the second then finds nothing held.
        held = session.scalars(select(SettlementBatch).where(SettlementBatch.status == "held")
                               .order_by(SettlementBatch.merchant_id, SettlementBatch.id).limit(FILING_MAX)
                               .with_for_update(skip_locked=True)).all()
        by_merchant: dict[tuple[uuid.UUID, str], list[SettlementBatch]] = defaultdict(list)
        for batch in held:
            by_merchant[batch.merchant_id, batch.currency].append(batch)
        for (merchant_id, _currency), batches in by_merchant.items():
            payable = [b for b in batches if _payable(session, bank, b)]
            if payable:
                files.append(_file(session, bank, merchant_id, payable))
    return files


def _payable(session: Session, bank, batch: SettlementBatch) -> bool:
    """Whether the batch can go to the bank; one that cannot is rejected here, with the reason."""
    if _holds_lapsed(session, batch.id):
        # Held longer than HOLD_DAYS without a bank: the expiry sweep has given the money back.
        _release_items(session, batch, "EXPIRED", "the hold expired before the payout could be sent")
        return False
    _, errors = check_transfer(_fields(batch), 1, today=bank.today(), account_currency=bank.config.currency)
    if errors:
        _reject(session, batch, "INVALID", "; ".join(str(e) for e in errors))
    return not errors


def _holds_lapsed(session: Session, batch_id: uuid.UUID) -> bool:
    statuses = session.scalars(select(TXNS.c.status).join(SettlementHold, SettlementHold.hold_id == TXNS.c.id)
                               .where(SettlementHold.batch_id == batch_id)).all()
    return any(status != "pending" for status in statuses)


def _fields(batch: SettlementBatch) -> dict:
    label = "" if batch.group_key == "merchant" else f" {batch.group_key[:40]}"
    return {
        "end_to_end_id": batch.end_to_end_id, "amount_minor": batch.net_minor, "currency": batch.currency,
        "creditor_name": batch.creditor_name, "creditor_account": batch.creditor_account,
        "creditor_bank": batch.creditor_bank,
        "remittance_info": f"Juhe settlement {batch.settlement_date.isoformat()}{label}"[:REMITTANCE_MAX],
    }


def _file(session: Session, bank, merchant_id: uuid.UUID, batches: list[SettlementBatch]) -> uuid.UUID:
    today = bank.today()
    items = [
        TransferItem(b.end_to_end_id, Money(b.net_minor, b.currency), b.creditor_name, b.creditor_account, b.creditor_bank,
                     _fields(b)["remittance_info"], max(b.settlement_date, today), line)
        for line, b in enumerate(batches, start=1)
    ]
    msg_id = channel_number()
    payout = PayoutFile(
        id=uuid.uuid4(), merchant_id=merchant_id, msg_id=msg_id, status="submitted", currency=batches[0].currency,
        total_minor=sum(b.net_minor for b in batches), transfer_count=len(batches),
        document=bank.build_file(msg_id, items, category_purpose="SUPP"), next_poll_at=utcnow(), poll_count=0,
    )
    session.add(payout)
    session.flush()
    for batch in batches:
        batch.status, batch.payout_file_id = "submitted", payout.id
    return payout.id


async def send_file(ctx: PaymentsContext, file_id: uuid.UUID) -> None:
    """Upload the stored file. An unclear answer is left to the poller, which asks first."""
    payout = await ctx.db.run(_payout, ctx, file_id)
    try:
        receipt = await bank_of(ctx).submit_file(payout.document)
    except ChannelError:
        return
    if receipt.status == "rejected":
        await ctx.db.run(_reject_file, ctx, file_id, receipt)


def _reject_file(ctx: PaymentsContext, file_id: uuid.UUID, receipt) -> None:
    with ctx.db.session() as session, session.begin():
        payout = session.get(PayoutFile, file_id)
        for batch in _batches(session, file_id):
            if batch.status == "submitted":
                _reject(session, batch, receipt.reason_code or "FILE", receipt.reason or "the bank rejected the file")
        payout.status, payout.reason, payout.next_poll_at = "rejected", f"{receipt.reason_code}: {receipt.reason}", None


async def poll_file(ctx: PaymentsContext, file_id: uuid.UUID) -> str:
    msg_id, transfers = await ctx.db.run(_sent, ctx, file_id)
    try:
        statuses = await bank_of(ctx).fetch_status(msg_id, transfers)
    except ChannelError:
        statuses = None
    if statuses is not None and all(s.state == "not_found" for s in statuses):
        await send_file(ctx, file_id)  # the upload never arrived: send the same file again
    elif statuses is not None:
        await ctx.db.run(_settle, ctx, file_id, {s.end_to_end_id: s for s in statuses})
    return await ctx.db.run(_reschedule, ctx, file_id)


def _settle(ctx: PaymentsContext, file_id: uuid.UUID, statuses: dict) -> None:
    with ctx.db.session() as session, session.begin():
        payout = session.get(PayoutFile, file_id)
        batches = _batches(session, file_id)
        for batch in batches:
            status = statuses.get(batch.end_to_end_id)
            if batch.status != "submitted" or status is None or status.state in ("pending", "not_found"):
                continue
            if status.state == "settled":
                _pay(session, batch, status.bank_ref)
            else:
                _reject(session, batch, status.reason_code or "RJCT", status.reason_text or "rejected by the bank")
        if all(b.status != "submitted" for b in batches) and payout.status == "submitted":
            payout.status, payout.next_poll_at = "completed", None


def _pay(session: Session, batch: SettlementBatch, bank_ref: str | None) -> None:
    holds = _holds(session, batch.id)
    post_many(session.connection(), [
        Capture(f"settlement:{batch.id}:{h.payable_account_id}:capture", h.hold_id, description="settlement paid out")
        for h in holds
    ])
    batch.status, batch.bank_ref = "paid", bank_ref
    enqueue_event(session, batch.merchant_id, "settlement.paid", batch_view(batch))


def _reject(session: Session, batch: SettlementBatch, code: str, text: str) -> None:
    holds = _holds(session, batch.id)
    post_many(session.connection(), [Void(f"settlement:{batch.id}:{h.payable_account_id}:void", h.hold_id) for h in holds])
    _release_items(session, batch, code, text)


def _release_items(session: Session, batch: SettlementBatch, code: str, text: str) -> None:
    # The money is back on the payables; the batch's items may settle again in a later run.
    session.execute(update(SettlementItem).where(SettlementItem.batch_id == batch.id).values(claim_key=None))
    batch.status, batch.reason_code, batch.reason_text = "rejected", code[:8], text
    enqueue_event(session, batch.merchant_id, "settlement.rejected", batch_view(batch))
    raise_alert(session.connection(), "settlement_failure", batch.merchant_id, f"settlement payout rejected: {code}",
                {"batch_id": str(batch.id), "reason_code": code, "reason": text}, f"settlement:{batch.id}:rejected")


def _batches(session: Session, file_id: uuid.UUID) -> list[SettlementBatch]:
    return list(session.scalars(select(SettlementBatch).where(SettlementBatch.payout_file_id == file_id)
                                .order_by(SettlementBatch.id).with_for_update()))


def _holds(session: Session, batch_id: uuid.UUID) -> list[SettlementHold]:
    return list(session.scalars(select(SettlementHold).where(SettlementHold.batch_id == batch_id).order_by(SettlementHold.id)))


def _reschedule(ctx: PaymentsContext, file_id: uuid.UUID) -> str:
    with ctx.db.session() as session, session.begin():
        payout = session.get(PayoutFile, file_id)
        if payout.status == "submitted":
            payout.next_poll_at, payout.poll_count = utcnow() + poll_delay(ctx, payout.poll_count), payout.poll_count + 1
        return payout.status
