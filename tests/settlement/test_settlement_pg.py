"""The run and the nothing-settles-twice rule on PostgreSQL, including two runs at once."""

from __future__ import annotations

import threading
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from juhe.ledger import payable_code
from juhe.settlement.models import SettlementItem
from juhe.settlement.service import run_settlement

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_run_on_postgresql_settles_once_even_when_two_dates_run_at_once(pg_books):
    books = pg_books
    books.profile()
    paid = [books.pay(100_00 + n, datetime(2025, 10, 9, 10, n, tzinfo=SHANGHAI)) for n in range(5)]
    results = {}

    def settle(day: date) -> None:
        results[day] = run_settlement(books.db, day)

    threads = [threading.Thread(target=settle, args=(day,)) for day in (date(2025, 10, 10), date(2025, 10, 11))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with books.db.reader() as session:
        claimed = session.scalars(select(SettlementItem.payment_id).where(SettlementItem.claim_key.is_not(None))).all()
    assert sorted(claimed) == sorted(paid)  # each payment exactly once, whichever run won
    assert books.available(payable_code(books.merchant())) == 0
    total = sum(b.net_minor for b in books.batches(0) if b.status == "held")
    assert total == sum(100_00 + n - round((100_00 + n) * 60 / 10_000) for n in range(5))
    run_settlement(books.db, date(2025, 10, 10))  # reruns change nothing
    run_settlement(books.db, date(2025, 10, 11))
    with books.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(SettlementItem)) == 5
    (batch,) = [b for b in books.batches(0) if b.status == "held"]
    with pytest.raises(IntegrityError), books.db.session() as session, session.begin():
        session.add(SettlementItem(merchant_id=books.merchant(), batch_id=batch.id, kind="payment", payment_id=paid[0],
                                   claim_key=f"payment:{paid[0]}", business_date=date(2025, 10, 9), currency="CNY",
                                   gross_minor=1, fee_minor=0, net_minor=1, payable_account_id=batch.id))
    assert books.ledger_ok()


def test_payout_on_postgresql_is_filed_once_and_captured(pg_books, bank):
    books = pg_books
    books.profile()
    reserve_before = books.posted("reserve:bank")  # the demo books the reserve account's opening balance
    books.pay(100_00, datetime(2025, 10, 9, 10, tzinfo=SHANGHAI))
    run_settlement(books.db, date(2025, 10, 10))
    (payout,) = books.pay_out(bank)
    (batch,) = books.batches(0)
    assert payout.status == "completed" and batch.status == "paid"
    assert books.posted(payable_code(books.merchant())) == 0 and books.posted("reserve:bank") == reserve_before - 99_40
    assert [f.id for f in books.pay_out(bank)] == [payout.id]  # a later round files nothing again
    assert books.ledger_ok()
