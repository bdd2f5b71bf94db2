"""Payouts through the bank sandbox: one pain.001 per merchant, held amounts captured on ACSC,
voided on a rejection with the bank's reason, every step balanced in the ledger."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from juhe.channels.bank import pain001
from juhe.ledger import payable_code
from juhe.payments.context import PaymentsContext
from juhe.settlement.models import PayoutFile, SettlementItem
from juhe.settlement.payouts import poll_payouts
from juhe.settlement.service import run_settlement
from juhe.webhooks.models import WebhookEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAY_DAY = date(2025, 10, 10)


def at(*args):
    return datetime(*args, tzinfo=SHANGHAI)


def settle_and_pay_out(books, bank, day: date = PAY_DAY) -> list[PayoutFile]:
    """Run the date, then poll as the worker would until every file is done."""
    run_settlement(books.db, day)
    return books.pay_out(bank)


def test_accepted_payout_captures_the_hold_into_the_reserve_account(books, bank):
    sh, _ = books.stores()
    books.profile()
    books.pay(100_00, at(2025, 10, 9, 10), store_id=sh)
    books.pay(300_00, at(2025, 10, 9, 11))
    reserve_before = books.posted("reserve:bank") if _exists(books, "reserve:bank") else 0
    (payout,) = settle_and_pay_out(books, bank)
    (batch,) = books.batches(0)
    assert payout.status == "completed" and batch.status == "paid" and batch.bank_ref
    document = pain001.read(payout.document)
    (transfer,) = document.transfers
    assert transfer.end_to_end_id == batch.end_to_end_id and transfer.amount.amount_minor == 99_40 + 298_20
    assert transfer.creditor_account == "6222020200112233445"
    assert books.posted(payable_code(books.merchant(), store_id=sh)) == 0
    assert books.posted(payable_code(books.merchant())) == 0
    assert books.posted("reserve:bank") == reserve_before - (99_40 + 298_20)  # the money left the reserve account
    assert _events(books, "settlement.paid") == 1
    assert books.ledger_ok()


def test_rejected_payout_voids_the_hold_and_the_items_settle_again(books, bank):
    books.profile(payout_account="6222000000000000404")  # a closed account: AC04
    paid = books.pay(100_00, at(2025, 10, 9, 10))
    (payout,) = settle_and_pay_out(books, bank)
    (batch,) = books.batches(0)
    assert batch.status == "rejected" and batch.reason_code == "AC04" and payout.status == "completed"
    assert books.available(payable_code(books.merchant())) == 99_40  # back on the merchant's balance
    with books.db.reader() as session:
        item = session.scalar(select(SettlementItem).where(SettlementItem.payment_id == paid))
    assert item.claim_key is None  # kept as the record, free to settle again
    assert _events(books, "settlement.rejected") == 1
    books.profile()  # the merchant fixes its payout account
    settle_and_pay_out(books, bank, date(2025, 10, 11))
    retried = [b for b in books.batches(0) if b.settlement_date == date(2025, 10, 11)]
    assert [(b.status, b.net_minor) for b in retried] == [("paid", 99_40)]
    assert books.posted(payable_code(books.merchant())) == 0 and books.ledger_ok()


def test_one_file_per_merchant_with_a_transfer_per_batch(books, bank):
    sh, bj = books.stores()
    books.profile(split_by="store")
    books.profile(index=1)
    books.pay(100_00, at(2025, 10, 9, 10), store_id=sh)
    books.pay(200_00, at(2025, 10, 9, 10), store_id=bj)
    books.pay(50_00, at(2025, 10, 9, 10), index=1)
    files = settle_and_pay_out(books, bank)
    assert sorted(f.transfer_count for f in files) == [1, 2]
    assert {f.merchant_id for f in files} == {books.merchant(0), books.merchant(1)}
    assert all(b.status == "paid" for b in books.batches())


def test_nothing_is_filed_without_a_bank(books):
    books.profile()
    books.pay(100_00, at(2025, 10, 9, 10))
    run_settlement(books.db, PAY_DAY)
    ctx = PaymentsContext(db=books.db, channels={}, notify_base_url="http://127.0.0.1:9/notify")
    assert asyncio.run(poll_payouts(ctx)) == 0
    (batch,) = books.batches(0)
    assert batch.status == "held" and batch.payout_file_id is None


def _exists(books, code: str) -> bool:
    from juhe.db.models import Account

    with books.db.reader() as session:
        return session.scalar(select(Account.id).where(Account.code == code)) is not None


def _events(books, event_type: str) -> int:
    with books.db.reader() as session:
        return len(session.scalars(select(WebhookEvent.id).where(WebhookEvent.type == event_type)).all())


def test_a_batch_whose_hold_lapsed_is_not_sent_and_its_items_settle_again(books, bank):
    from juhe.ledger import expire_holds

    books.profile()
    books.pay(100_00, at(2025, 10, 9, 10))
    run_settlement(books.db, PAY_DAY)
    with books.db.session() as session, session.begin():
        assert expire_holds(session.connection(), datetime.now(SHANGHAI) + timedelta(days=31)) == 1
    assert books.available(payable_code(books.merchant())) == 99_40  # the sweep gave it back
    assert settle_and_pay_out(books, bank, PAY_DAY) == []  # a rerun, then the worker's round: nothing is filed
    assert len(settle_and_pay_out(books, bank, date(2025, 10, 11))) == 1
    first, retried = books.batches(0)
    assert (first.status, first.reason_code, first.payout_file_id) == ("rejected", "EXPIRED", None)
    assert (retried.status, retried.net_minor) == ("paid", 99_40) and books.ledger_ok()
