"""Planning batches (pure): grouping by split, per-payable holds, what is carried forward."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from juhe.settlement.planning import SettleableItem, plan_batches

STORE, LINE = uuid.uuid4(), uuid.uuid4()
MERCHANT_PAYABLE, STORE_PAYABLE, LINE_PAYABLE = (uuid.UUID(int=n) for n in (1, 2, 3))
DAY = date(2025, 10, 9)


def payment(amount: int, fee: int, account=MERCHANT_PAYABLE, store=None, line=None) -> SettleableItem:
    return SettleableItem("payment", uuid.uuid4(), None, store, line, account, "CNY", DAY, amount, fee)


def refund(amount: int, fee_back: int, account=MERCHANT_PAYABLE, store=None, line=None) -> SettleableItem:
    return SettleableItem("refund", uuid.uuid4(), uuid.uuid4(), store, line, account, "CNY", DAY, -amount, -fee_back)


PLENTY = {MERCHANT_PAYABLE: 10**9, STORE_PAYABLE: 10**9, LINE_PAYABLE: 10**9}


def test_a_merchant_wide_batch_holds_each_payable_its_own_net():
    items = [payment(100_00, 60, STORE_PAYABLE, store=STORE), payment(50_00, 30), refund(10_00, 6)]
    (batch,) = plan_batches(items, "merchant", PLENTY)
    assert batch.status == "held" and batch.net_minor == 99_40 + 49_70 - 9_94
    assert {(h.payable_account_id, h.amount_minor) for h in batch.holds} == {(STORE_PAYABLE, 99_40), (MERCHANT_PAYABLE, 39_76)}
    assert (batch.gross_minor, batch.fee_minor) == (140_00, 84)


def test_split_by_line_keeps_store_payments_in_the_merchant_batch():
    items = [payment(100_00, 60, STORE_PAYABLE, store=STORE), payment(80_00, 48, LINE_PAYABLE, line=LINE)]
    batches = {b.group_key: b for b in plan_batches(items, "line", PLENTY)}
    assert set(batches) == {"merchant", f"line:{LINE}"}
    assert batches[f"line:{LINE}"].business_line_id == LINE and batches[f"line:{LINE}"].net_minor == 79_52


def test_a_payable_netting_below_zero_is_carried_while_the_others_are_paid():
    items = [payment(100_00, 60, STORE_PAYABLE, store=STORE), refund(30_00, 18)]
    (batch,) = plan_batches(items, "merchant", PLENTY)
    assert batch.status == "held" and [i.payable_account_id for i in batch.items] == [STORE_PAYABLE]
    (carried,) = batch.carried
    assert (carried.payable_account_id, carried.net_minor, carried.reason) == (MERCHANT_PAYABLE, -29_82, "negative_net")


def test_a_payable_without_enough_available_is_carried():
    (batch,) = plan_batches([payment(100_00, 60)], "merchant", {MERCHANT_PAYABLE: 99_39})
    assert batch.status == "carried_forward" and batch.items == () and batch.net_minor == 99_40
    assert batch.carried[0].reason == "insufficient_balance"


def test_items_netting_to_zero_close_without_a_transfer():
    (batch,) = plan_batches([payment(100_00, 60), refund(100_00, 60)], "merchant", PLENTY)
    assert batch.status == "nil" and batch.holds == () and len(batch.items) == 2


def test_unknown_split_is_refused():
    with pytest.raises(ValueError):
        plan_batches([], "region", PLENTY)
