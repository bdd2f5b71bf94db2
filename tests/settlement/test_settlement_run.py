"""Settlement runs on SQLite: what is due, net of refunds and fees, held on the payables, never twice."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import IntegrityError

from juhe.ledger import payable_code
from juhe.settlement.errors import SettlementError
from juhe.settlement.models import SettlementItem
from juhe.settlement.releases import release_item
from juhe.settlement.service import run_settlement

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def run(books, day: date, **options):
    return run_settlement(books.db, day, **options)


def test_t_plus_1_settles_reconciled_payments_less_refunds_and_fees(books):
    books.profile()
    code = payable_code(books.merchant())
    first = books.pay(100_00, at(2025, 10, 9, 10))  # fee 0.60
    books.pay(250_00, at(2025, 10, 9, 18))  # fee 1.50
    refund = books.refund(first, 40_00, at(2025, 10, 9, 20))  # gives back 0.24 of the fee
    books.pay(70_00, at(2025, 10, 10, 9))  # the next business date: not due yet
    before = books.available(code)
    result = run(books, date(2025, 10, 10))
    (merchant,) = [m for m in result.merchants if m.merchant_id == books.merchant()]
    assert merchant.outcome == "settled" and merchant.due_through == date(2025, 10, 9)
    (batch,) = books.batches(0)
    assert batch.status == "held" and batch.item_count == 3
    assert (batch.gross_minor, batch.fee_minor, batch.net_minor) == (310_00, 1_86, 308_14)
    refund_item = next(i for i in books.items(batch.id) if i.kind == "refund")
    assert refund_item.refund_id == refund and (refund_item.gross_minor, refund_item.fee_minor) == (-40_00, -24)
    assert books.available(code) == before - 308_14  # held at run time
    assert books.ledger_ok()


def test_refund_fee_given_back_mirrors_the_cumulative_refund_fees(books):
    books.profile()
    paid = books.pay(100_01, at(2025, 10, 9, 10))  # fee 0.60 on 100.01
    for amount in (33_33, 33_33, 33_35):
        books.refund(paid, amount, at(2025, 10, 9, 11))
    run(books, date(2025, 10, 10))
    (batch,) = books.batches(0)
    items = books.items(batch.id)
    fees_back = sorted(i.fee_minor for i in items if i.kind == "refund")
    assert sum(fees_back) == -60 and batch.status == "nil"  # fully refunded: the whole fee comes back, net 0
    assert batch.net_minor == 0 and books.ledger_ok()


def test_unreconciled_items_wait_until_reconciled_or_released(books):
    books.profile()
    matched = books.pay(100_00, at(2025, 10, 9, 10))
    open_one = books.pay(50_00, at(2025, 10, 9, 11), reconciled=False)
    run(books, date(2025, 10, 10))
    (batch,) = books.batches(0)
    assert {i.payment_id for i in books.items(batch.id)} == {matched}
    with books.db.session() as session, session.begin():
        release = release_item(session, books.merchant(), "payment", open_one, "bill arrives late; confirmed by phone", "cli:ops")
    assert release.released_by == "cli:ops"
    run(books, date(2025, 10, 11))
    later = [b for b in books.batches(0) if b.settlement_date == date(2025, 10, 11)]
    assert [i.payment_id for i in books.items(later[0].id)] == [open_one]


def test_rerunning_a_date_moves_nothing_and_nothing_settles_twice(books):
    books.profile()
    paid = books.pay(100_00, at(2025, 10, 9, 10))
    first = run(books, date(2025, 10, 10))
    transactions = books.ledger_transactions()
    again = run(books, date(2025, 10, 10))
    mine = lambda result: next(m for m in result.merchants if m.merchant_id == books.merchant())  # noqa: E731
    assert mine(again).outcome == "already_run" and mine(again).batch_ids == mine(first).batch_ids
    assert books.ledger_transactions() == transactions
    run(books, date(2025, 10, 11))  # a later date does not take the settled payment again
    assert len(books.batches(0)) == 1
    (batch,) = books.batches(0)
    with pytest.raises(IntegrityError), books.db.session() as session, session.begin():
        session.add(SettlementItem(merchant_id=books.merchant(), batch_id=batch.id, kind="payment", payment_id=paid,
                                   claim_key=f"payment:{paid}", business_date=date(2025, 10, 9), currency="CNY",
                                   gross_minor=1, fee_minor=0, net_minor=1, payable_account_id=batch.id))


def test_refunds_exceeding_collections_carry_forward_unpaid(books):
    books.profile()
    old = books.pay(500_00, at(2025, 10, 9, 10))
    waiting = books.pay(400_00, at(2025, 10, 9, 11), reconciled=False)  # funds the refund below
    run(books, date(2025, 10, 10))  # pays the 500
    books.refund(old, 300_00, at(2025, 10, 10, 10))
    books.pay(100_00, at(2025, 10, 10, 11))
    run(books, date(2025, 10, 11))
    carried = [b for b in books.batches(0) if b.settlement_date == date(2025, 10, 11)]
    assert [b.status for b in carried] == ["carried_forward"]
    assert carried[0].net_minor == (100_00 - 60) - (300_00 - 1_80) and carried[0].item_count == 0
    assert "refunds exceed collections" in carried[0].note
    books.reconcile("payment", waiting)
    run(books, date(2025, 10, 13))
    (paid,) = [b for b in books.batches(0) if b.settlement_date == date(2025, 10, 13)]
    assert paid.status == "held" and paid.item_count == 3  # the carried refund and payment, with the late one
    assert paid.net_minor == (100_00 - 60) - (300_00 - 1_80) + (400_00 - 2_40)
    assert books.available(payable_code(books.merchant())) == 0 and books.ledger_ok()


def test_split_by_store_pays_each_store_and_the_rest_apart(books):
    sh, bj = books.stores()
    books.profile(split_by="store")
    books.pay(100_00, at(2025, 10, 9, 10), store_id=sh)
    books.pay(200_00, at(2025, 10, 9, 10), store_id=bj)
    books.pay(300_00, at(2025, 10, 9, 10))
    run(books, date(2025, 10, 10))
    nets = {b.group_key: b.net_minor for b in books.batches(0)}
    assert nets == {f"store:{sh}": 99_40, f"store:{bj}": 198_80, "merchant": 298_20}
    assert books.available(payable_code(books.merchant(), store_id=sh)) == 0


def test_merchant_wide_batch_holds_on_each_payable_it_draws_on(books):
    sh, _ = books.stores()
    books.profile()
    books.pay(100_00, at(2025, 10, 9, 10), store_id=sh)
    books.pay(300_00, at(2025, 10, 9, 10))
    run(books, date(2025, 10, 10))
    (batch,) = books.batches(0)
    assert batch.net_minor == 99_40 + 298_20
    assert books.available(payable_code(books.merchant(), store_id=sh)) == 0
    assert books.available(payable_code(books.merchant())) == 0


def test_golden_week_collections_settle_on_the_first_working_day(books):
    books.profile()
    books.pay(100_00, at(2025, 9, 30, 10))
    books.pay(100_00, at(2025, 10, 4, 10))
    assert run(books, date(2025, 10, 8)).working_day is False
    assert books.batches(0) == []
    run(books, date(2025, 10, 9))
    (batch,) = books.batches(0)
    assert batch.item_count == 2 and batch.settlement_date == date(2025, 10, 9)


def test_cutoff_moves_late_payments_to_the_next_business_date(books):
    books.profile(cutoff="23:00")
    books.pay(100_00, at(2025, 10, 9, 22, 59))
    late = books.pay(100_00, at(2025, 10, 9, 23, 30))
    run(books, date(2025, 10, 10))
    (batch,) = books.batches(0)
    assert late not in {i.payment_id for i in books.items(batch.id)} and batch.item_count == 1


def test_merchants_without_a_profile_are_counted_not_settled(books):
    books.profile()
    books.pay(100_00, at(2025, 10, 9, 10), index=1)
    result = run(books, date(2025, 10, 10))
    assert result.without_profile == 1 and books.batches(1) == []


@pytest.mark.parametrize("day, code", [
    (date(2099, 1, 5), "settlement_date_in_future"),
    (date(2003, 6, 2), "date_out_of_range"),
])
def test_bad_dates_are_refused(books, day, code):
    books.profile()
    with pytest.raises(SettlementError) as caught:
        run(books, day)
    assert caught.value.code == code and books.batches() == []


def test_unknown_merchant_or_missing_profile_is_refused(books):
    import uuid

    with pytest.raises(SettlementError) as caught:
        run(books, date(2025, 10, 10), merchant_id=uuid.uuid4())
    assert caught.value.code == "merchant_not_found"
    with pytest.raises(SettlementError) as caught:
        run(books, date(2025, 10, 10), merchant_id=books.merchant(1))
    assert caught.value.code == "settlement_profile_missing"


def test_releases_refuse_settled_reconciled_repeated_and_unknown_items(books):
    import uuid

    books.profile()
    settled = books.pay(100_00, at(2025, 10, 9, 10))
    open_one = books.pay(50_00, at(2025, 10, 10, 10), reconciled=False)
    run(books, date(2025, 10, 10))
    books.reconcile("payment", open_one, category="amount_mismatch")

    def release(kind, item_id, reason="checked", merchant=0):
        with books.db.session() as session, session.begin():
            return release_item(session, books.merchant(merchant), kind, item_id, reason, "test")

    for kind, item_id, code in [
        ("payment", uuid.uuid4(), "payment_not_found"),
        ("refund", uuid.uuid4(), "refund_not_found"),
        ("payment", settled, "already_settled"),
        ("transfer", settled, "invalid_kind"),
    ]:
        with pytest.raises(SettlementError) as caught:
            release(kind, item_id)
        assert caught.value.code == code
    with pytest.raises(SettlementError) as caught:
        release("payment", open_one, merchant=1)
    assert caught.value.code == "payment_not_found"  # another merchant's payment is not found
    with pytest.raises(SettlementError) as caught:
        release("payment", open_one, reason="  ")
    assert caught.value.code == "reason_required"
    release("payment", open_one)
    with pytest.raises(SettlementError) as caught:
        release("payment", open_one)
    assert caught.value.code == "already_released"
    matched = books.pay(10_00, at(2025, 10, 10, 11))
    with pytest.raises(SettlementError) as caught:
        release("payment", matched)
    assert caught.value.code == "already_reconciled"


def test_a_booked_refund_not_yet_reconciled_holds_back_what_it_took(books):
    books.profile()
    paid = books.pay(100_00, at(2025, 10, 9, 10))
    books.refund(paid, 100_00, at(2025, 10, 9, 11), reconciled=False)  # the payable is empty again
    run(books, date(2025, 10, 10))
    (batch,) = books.batches(0)
    assert batch.status == "carried_forward" and "less available" in batch.note
    assert books.available(payable_code(books.merchant())) == 0 and books.ledger_ok()
