"""Batch transfers: check every line, hold every amount, send one pain.001, settle each item by
the bank's pain.002.

Each item's amount is held (Dr payable:{merchant}, Cr reserve:bank) in the same commit that
records the batch and the exact file, before anything is sent: a merchant cannot send more
than it has, and a crash after that commit loses nothing, because the poller resends the
stored file (the bank keeps one copy per MsgId). A settled item captures its hold; a rejected
one voids it, so the money is back."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from juhe.channels.bank import transfers as lines
from juhe.channels.base import ChannelError
from juhe.db.types import utcnow
from juhe.money import Money
from juhe.ledger import Capture, Entry, Post, Void, ensure_account, payable_code, post_many
from juhe.ledger.accounts import BANK_RESERVE
from juhe.payments.context import PaymentsContext
from juhe.payments.numbers import channel_number
from juhe.transfers.models import TransferBatch, TransferItem
from juhe.webhooks.outbox import enqueue_event

HOLD_DAYS = 30  # a bank answers within days; a hold this old is voided by the expiry sweep
POLL_BATCH_MAX = 50


class TransferError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.status, self.code, self.errors = status, code, errors or []


def bank_of(ctx: PaymentsContext):
    bank = ctx.channels.get("bank")
    if bank is None:
        raise TransferError(503, "channel_not_configured", "no corporate bank channel is configured")
    return bank


def check_lines(bank, raw: str | bytes) -> list[lines.TransferItem]:
    items, errors = lines.parse_transfer_lines(raw, today=bank.today(), account_currency=bank.config.currency)
    if errors:
        listed = [{"line": e.line, "field": e.field, "message": e.message} for e in errors]
        raise TransferError(422, "invalid_transfer_lines", f"{len(errors)} problem(s) in the batch; nothing was held or sent", listed)
    return items


async def create_batch(
    ctx: PaymentsContext, merchant_id: uuid.UUID, key: str, request_hash: str, raw: str | bytes,
    category_purpose: str | None = None,
) -> tuple[TransferBatch, bool]:
    batch, created = await ctx.db.run(_book_once, ctx, bank_of(ctx), merchant_id, key, request_hash, raw, category_purpose)
    if created:
        await _send(ctx, batch.id)
    return await ctx.db.run(_batch, ctx, batch.id), created


def _book_once(ctx, bank, merchant_id, key, request_hash, raw, category_purpose) -> tuple[TransferBatch, bool]:
    try:
        return _book(ctx, bank, merchant_id, key, request_hash, raw, category_purpose)
    except IntegrityError:
        with ctx.db.reader() as session:
            return _replay(session, merchant_id, key, request_hash), False


def _batch(ctx: PaymentsContext, batch_id: uuid.UUID) -> TransferBatch:
    with ctx.db.reader() as session:
        return session.get(TransferBatch, batch_id)


def _book(ctx, bank, merchant_id, key, request_hash, raw, category_purpose) -> tuple[TransferBatch, bool]:
    with ctx.db.session() as session, session.begin():
        if session.scalar(select(TransferBatch.id).where(TransferBatch.merchant_id == merchant_id, TransferBatch.idempotency_key == key)):
            return _replay(session, merchant_id, key, request_hash), False
        items = check_lines(bank, raw)
        batch_no = channel_number()
        try:
            document = bank.build_file(batch_no, items, category_purpose=category_purpose)
        except ValueError as error:
            raise TransferError(422, "invalid_batch", str(error)) from None
        batch = TransferBatch(
            id=uuid.uuid4(), merchant_id=merchant_id, idempotency_key=key, request_hash=request_hash, batch_no=batch_no,
            status="submitted", currency=bank.config.currency, total_minor=sum(i.amount.amount_minor for i in items),
            item_count=len(items), category_purpose=category_purpose, document=document, next_poll_at=utcnow(), poll_count=0,
        )
        session.add(batch)
        holds = _hold_all(session.connection(), batch, items)
        session.add_all(
            TransferItem(
                merchant_id=merchant_id, batch_id=batch.id, line=item.line, end_to_end_id=item.end_to_end_id,
                amount_minor=item.amount.amount_minor, currency=item.amount.currency, creditor_name=item.creditor_name,
                creditor_account=item.creditor_account, creditor_bank=item.creditor_bank, remittance_info=item.remittance_info,
                execution_date=item.execution_date, status="pending", hold_id=hold.id,
            )
            for item, hold in zip(items, holds)
        )
        return batch, True


def _hold_all(conn, batch: TransferBatch, items: list[lines.TransferItem]):
    payable = ensure_account(conn, payable_code(batch.merchant_id), batch.currency, merchant_id=batch.merchant_id,
                             no_overdraft=True, owner_type="merchant", owner_id=batch.merchant_id)
    reserve = ensure_account(conn, BANK_RESERVE, batch.currency, owner_type="platform")
    expires_at = utcnow() + timedelta(days=HOLD_DAYS)
    return post_many(conn, [
        Post(f"transfer:{batch.id}:{item.end_to_end_id}:hold",
             (Entry(payable, item.amount.amount_minor), Entry(reserve, -item.amount.amount_minor)),
             batch.merchant_id, f"transfer {batch.batch_no} line {item.line}", {"batch_id": str(batch.id), "line": item.line},
             pending=True, expires_at=expires_at)
        for item in items
    ])


def _replay(session, merchant_id, key, request_hash) -> TransferBatch:
    batch = session.scalar(select(TransferBatch).where(TransferBatch.merchant_id == merchant_id, TransferBatch.idempotency_key == key))
    if batch.request_hash != request_hash:
        raise TransferError(409, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
    return batch


async def _send(ctx: PaymentsContext, batch_id: uuid.UUID) -> None:
    """Upload the stored file. An unclear answer is left to the poller, which asks first."""
    batch = await ctx.db.run(_batch, ctx, batch_id)
    try:
        receipt = await bank_of(ctx).submit_file(batch.document)
    except ChannelError:
        return
    if receipt.status == "rejected":
        await ctx.db.run(_reject_batch, ctx, batch_id, f"{receipt.reason_code}: {receipt.reason}")


def _reject_batch(ctx: PaymentsContext, batch_id: uuid.UUID, reason: str) -> None:
    with ctx.db.session() as session, session.begin():
        batch = session.get(TransferBatch, batch_id)
        items = session.scalars(select(TransferItem).where(TransferItem.batch_id == batch_id)).all()
        post_many(session.connection(), [Void(f"transfer:{batch_id}:{i.end_to_end_id}:void", i.hold_id) for i in items])
        for item in items:
            item.status, item.reason_text = "rejected", reason
        batch.status, batch.reason, batch.next_poll_at = "rejected", reason, None
        enqueue_event(session, batch.merchant_id, "transfer_batch.rejected", batch_view(batch, items))


async def poll_batches(ctx: PaymentsContext) -> int:
    """Settle submitted batches from the bank's status reports (the worker calls this)."""
    if "bank" not in ctx.channels:
        return 0
    due = await ctx.db.run(_due, ctx)
    for batch_id in due:
        await poll_batch(ctx, batch_id)
    return len(due)


def _due(ctx: PaymentsContext) -> list[uuid.UUID]:
    with ctx.db.reader() as session:
        return list(session.scalars(select(TransferBatch.id).where(
            TransferBatch.status == "submitted", TransferBatch.next_poll_at <= utcnow()).limit(POLL_BATCH_MAX)).all())


def _batch_items(ctx: PaymentsContext, batch_id: uuid.UUID) -> tuple[TransferBatch, list[TransferItem]]:
    with ctx.db.reader() as session:
        batch = session.get(TransferBatch, batch_id)
        return batch, list(session.scalars(select(TransferItem).where(TransferItem.batch_id == batch_id).order_by(TransferItem.line)).all())


async def poll_batch(ctx: PaymentsContext, batch_id: uuid.UUID) -> str:
    batch, items = await ctx.db.run(_batch_items, ctx, batch_id)
    try:
        statuses = await bank_of(ctx).fetch_status(batch.batch_no, [_as_line(i) for i in items])
    except ChannelError:
        statuses = None
    if statuses is not None and all(s.state == "not_found" for s in statuses):
        await _send(ctx, batch_id)  # the upload never arrived: send the same file again
    elif statuses is not None:
        await ctx.db.run(_settle, ctx, batch_id, {s.end_to_end_id: s for s in statuses})
    return await ctx.db.run(_reschedule, ctx, batch_id)


def _as_line(item: TransferItem) -> lines.TransferItem:
    return lines.TransferItem(item.end_to_end_id, Money(item.amount_minor, item.currency), item.creditor_name,
                              item.creditor_account, item.creditor_bank, item.remittance_info, item.execution_date, item.line)


def _settle(ctx: PaymentsContext, batch_id: uuid.UUID, statuses: dict) -> None:
    with ctx.db.session() as session, session.begin():
        batch = session.get(TransferBatch, batch_id)
        items = session.scalars(select(TransferItem).where(TransferItem.batch_id == batch_id).order_by(TransferItem.line)).all()
        commands = []
        for item in items:
            status = statuses.get(item.end_to_end_id)
            if item.status != "pending" or status is None or status.state in ("pending", "not_found"):
                continue
            settled = status.state == "settled"
            item.status = "settled" if settled else "rejected"
            item.reason_code, item.reason_text, item.bank_ref = status.reason_code, status.reason_text, status.bank_ref
            key = f"transfer:{batch_id}:{item.end_to_end_id}:{'capture' if settled else 'void'}"
            commands.append(Capture(key, item.hold_id) if settled else Void(key, item.hold_id))
        post_many(session.connection(), commands)
        if all(i.status != "pending" for i in items) and batch.status == "submitted":
            batch.status, batch.next_poll_at = "completed", None
            enqueue_event(session, batch.merchant_id, "transfer_batch.completed", batch_view(batch, items))


def _reschedule(ctx: PaymentsContext, batch_id: uuid.UUID) -> str:
    with ctx.db.session() as session, session.begin():
        batch = session.get(TransferBatch, batch_id)
        if batch.status == "submitted":
            batch.next_poll_at, batch.poll_count = utcnow() + poll_delay(ctx, batch.poll_count), batch.poll_count + 1
        return batch.status


def poll_delay(ctx: PaymentsContext, poll_count: int) -> timedelta:
    """The wait before the next status report: poll_initial, doubling per poll, at most poll_max."""
    return min(ctx.poll_initial * (2 ** poll_count), ctx.poll_max)


def batch_view(batch: TransferBatch, items: list[TransferItem]) -> dict:
    counts = {state: sum(1 for i in items if i.status == state) for state in ("pending", "settled", "rejected")}
    return {
        "id": str(batch.id), "object": "transfer_batch", "status": batch.status, "batch_no": batch.batch_no,
        "currency": batch.currency, "total_minor": batch.total_minor, "item_count": batch.item_count, "counts": counts,
        "reason": batch.reason, "created_at": batch.created_at.isoformat(),
        "items": [
            {"line": i.line, "end_to_end_id": i.end_to_end_id, "amount_minor": i.amount_minor, "currency": i.currency,
             "creditor_name": i.creditor_name, "creditor_account": masked_account(i.creditor_account), "status": i.status,
             "reason_code": i.reason_code, "reason_text": i.reason_text, "execution_date": date.isoformat(i.execution_date)}
            for i in items
        ],
    }


def masked_account(account: str) -> str:
    return f"{account[:4]}…{account[-4:]}" if len(account) > 10 else account
