"""The matcher on small worked examples: one rule per test, by the trade number, by the channel's
number, by amount for bank lines without our reference, across the cut-off, and bad input."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import polars as pl
import pytest

from juhe.recon.frames import OURS, STATEMENT
from juhe.recon.matching import CARRY_WINDOW, RESULT, ReconError, Result, business_day, match

DAY = date(2025, 6, 1)
NEXT_DAY = date(2025, 6, 2)
NOON = datetime(2025, 6, 1, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shanghai
CUTOFF = datetime(2025, 6, 1, 16, 0, tzinfo=timezone.utc)  # 00:00 in Shanghai: June 1 ends


def item(order_no: str = "P1", **fields) -> dict:
    row = dict(channel="alipay", merchant_id="m1", kind="payment", order_no=order_no, refund_no=None,
               payment_id=f"pay-{order_no}", channel_txn_id=f"T-{order_no}", amount_minor=1000, fee_minor=6,
               currency="CNY", direction="credit", status="succeeded", occurred_at=NOON, counterparty=None)
    return row | fields


def line(order_no: str | None = "P1", line_no: int = 1, **fields) -> dict:
    row = dict(channel="alipay", line_no=line_no, kind="payment", order_no=order_no, refund_no=None,
               channel_txn_id=f"T-{order_no}", amount_minor=1000, fee_minor=6, currency="CNY", direction="credit",
               status="succeeded", occurred_at=NOON + timedelta(seconds=2), counterparty=None, reference=None)
    return row | fields


def refund_item(refund_no: str = "R1", amount_minor: int = 500, **fields) -> dict:
    return item("P1", **(dict(kind="refund", refund_no=refund_no, amount_minor=amount_minor, fee_minor=3,
                              direction="debit", channel_txn_id=f"T-{refund_no}") | fields))


def refund_line(refund_no: str | None = "R1", amount_minor: int = 500, line_no: int = 1, **fields) -> dict:
    return line("P1", line_no, **(dict(kind="refund", refund_no=refund_no, amount_minor=amount_minor, fee_minor=3,
                                       direction="debit", channel_txn_id=f"T-{refund_no}") | fields))


def bank_item(order_no: str, amount_minor: int, counterparty: str, **fields) -> dict:
    return item(order_no, channel="bank", channel_txn_id=None, fee_minor=None, counterparty=counterparty,
                amount_minor=amount_minor, **fields)


def bank_line(line_no: int, amount_minor: int, counterparty: str, **fields) -> dict:
    return line(None, line_no, channel="bank", kind="unknown", channel_txn_id=None, fee_minor=None,
                counterparty=counterparty, amount_minor=amount_minor, **fields)


def statement(*lines: dict) -> pl.DataFrame:
    return pl.DataFrame(list(lines), schema=STATEMENT)


def ours(*items: dict) -> pl.DataFrame:
    return pl.DataFrame(list(items), schema=OURS)


def run(lines: list[dict], items: list[dict], **options) -> Result:
    return match(statement(*lines), ours(*items), options.pop("business_date", DAY), **options)


def verdicts(result: Result) -> list[tuple]:
    """(category, reason, our number or the line) of every row, sorted."""
    rows = result.rows.select(
        pl.col("category").cast(pl.String), pl.col("reason").cast(pl.String),
        pl.coalesce(pl.when(pl.col("kind") == "refund").then("refund_no").otherwise("order_no"),
                    pl.format("line {}", pl.col("line_no")))).rows()
    return sorted(rows)


def single(result: Result) -> dict:
    assert result.rows.height == 1, result.rows
    return result.rows.row(0, named=True)


# -- by the trade number -----------------------------------------------------------------------------


def test_same_number_amount_status_and_fee_is_matched():
    row = single(run([line()], [item()]))
    assert (row["category"], row["reason"]) == ("matched", "order_no")
    assert (row["ours_amount_minor"], row["channel_amount_minor"], row["line_no"]) == (1000, 1000, 1)
    assert (row["payment_id"], row["channel_txn_id"], row["carried"]) == ("pay-P1", "T-P1", False)


def test_payment_with_other_amount_is_amount_mismatch():
    row = single(run([line(amount_minor=999)], [item()]))
    assert (row["category"], row["reason"]) == ("amount_mismatch", "amount")
    assert (row["ours_amount_minor"], row["channel_amount_minor"]) == (1000, 999)


def test_refund_with_other_amount_is_amount_mismatch():
    row = single(run([refund_line(amount_minor=400)], [refund_item(amount_minor=500)]))
    assert (row["category"], row["reason"], row["refund_no"]) == ("amount_mismatch", "amount", "R1")
    assert (row["ours_amount_minor"], row["channel_amount_minor"]) == (500, 400)


def test_refund_is_matched_by_refund_no_beside_its_payment():
    result = run([line(line_no=1), refund_line(line_no=2), refund_line("R2", 300, line_no=3)],
                 [item(), refund_item(), refund_item("R2", 300)])
    assert verdicts(result) == [("matched", "order_no", "P1"), ("matched", "refund_no", "R1"),
                                ("matched", "refund_no", "R2")]


def test_other_currency_or_direction_is_amount_mismatch():
    result = run([line("P1", 1, currency="USD"), line("P2", 2, direction="debit")], [item("P1"), item("P2")])
    assert verdicts(result) == [("amount_mismatch", "currency", "P1"), ("amount_mismatch", "direction", "P2")]


def test_channel_succeeded_while_we_are_pending_is_status_mismatch():
    row = single(run([line()], [item(status="pending")]))
    assert (row["category"], row["reason"]) == ("status_mismatch", "status")
    assert (row["ours_status"], row["channel_status"]) == ("pending", "succeeded")


def test_reversed_line_of_our_succeeded_payment_is_status_mismatch():
    assert verdicts(run([line(status="reversed")], [item()])) == [("status_mismatch", "status", "P1")]


def test_payment_refunded_since_against_its_succeeded_line_is_matched():
    # The channel's line shows the trade as paid; our payment is refunded by now. Both moved money.
    assert verdicts(run([line()], [item(status="refunded")])) == [("matched", "order_no", "P1")]


def test_amount_mismatch_outranks_status_and_fee():
    row = single(run([line(amount_minor=1, fee_minor=0)], [item(status="pending")]))
    assert row["category"] == "amount_mismatch"


def test_equal_amount_other_fee_is_fee_mismatch():
    row = single(run([line(fee_minor=7)], [item(fee_minor=6)]))
    assert (row["category"], row["reason"], row["ours_fee_minor"], row["channel_fee_minor"]) == ("fee_mismatch", "fee", 6, 7)


def test_line_without_fee_is_not_a_fee_mismatch():
    assert verdicts(run([line(fee_minor=None)], [item(fee_minor=6)])) == [("matched", "order_no", "P1")]


def test_line_without_our_item_is_missing_ours():
    row = single(run([line("P9", channel_txn_id="T-9")], []))
    assert (row["category"], row["reason"], row["order_no"]) == ("missing_ours", "no_item", "P9")
    assert (row["ours_amount_minor"], row["channel_amount_minor"]) == (None, 1000)


def test_our_succeeded_item_without_line_is_missing_channel():
    row = single(run([], [item()]))
    assert (row["category"], row["reason"], row["line_no"]) == ("missing_channel", "no_line", None)
    assert (row["ours_amount_minor"], row["channel_amount_minor"]) == (1000, None)


def test_our_failed_or_pending_item_without_line_is_not_reported():
    result = run([], [item("P1", status="failed"), item("P2", status="pending")])
    assert result.rows.height == 0


def test_duplicate_lines_for_one_order_are_reported_once():
    result = run([line(line_no=1), line(line_no=2), line(line_no=3), line("P2", 4)], [item(), item("P2")])
    assert verdicts(result) == [("matched", "order_no", "P1"), ("matched", "order_no", "P2"),
                                ("status_mismatch", "duplicate_line", "P1")]
    duplicate = result.rows.filter(pl.col("reason") == "duplicate_line").row(0, named=True)
    assert (duplicate["line_no"], duplicate["channel_amount_minor"], duplicate["payment_id"]) == (2, 2000, "pay-P1")
    matched = result.rows.filter((pl.col("order_no") == "P1") & (pl.col("category") == "matched"))
    assert matched["line_no"].to_list() == [1]  # the first line pairs


def test_duplicate_lines_of_an_order_we_do_not_have_are_one_missing_and_one_duplicate():
    result = run([line("P9", 5), line("P9", 6)], [])
    assert verdicts(result) == [("missing_ours", "no_item", "P9"), ("status_mismatch", "duplicate_line", "P9")]
    assert result.rows.filter(pl.col("category") == "missing_ours")["line_no"].to_list() == [5]


def test_refund_line_is_not_paired_with_a_payment_of_that_number():
    # Only a fault would make a refund number equal an order number; the kinds still keep them apart.
    result = run([refund_line("X1")], [item("X1")])
    assert verdicts(result) == [("missing_channel", "no_line", "X1"), ("missing_ours", "no_item", "X1")]


# -- by the channel's number --------------------------------------------------------------------------


def test_line_without_order_no_matches_by_channel_txn_id():
    row = single(run([line(None, channel_txn_id="T-P1")], [item()]))
    assert (row["category"], row["reason"], row["order_no"], row["line_no"]) == ("matched", "channel_txn_id", "P1", 1)


def test_line_without_order_no_and_other_amount_by_channel_txn_id_is_amount_mismatch():
    assert verdicts(run([line(None, channel_txn_id="T-P1", amount_minor=5)], [item()])) == [
        ("amount_mismatch", "amount", "P1")]


def test_channel_txn_id_held_twice_proves_nothing():
    # Partial refunds of one trade can share the channel's trade number.
    result = run([refund_line(None, channel_txn_id="T-P1")],
                 [refund_item("R1", channel_txn_id="T-P1"), refund_item("R2", channel_txn_id="T-P1")])
    categories = sorted(result.rows["category"].cast(pl.String).to_list())
    assert categories == ["missing_channel", "missing_channel", "missing_ours"]


# -- bank lines without our reference -----------------------------------------------------------------


def test_bank_line_without_reference_matches_one_item_by_amount_and_counterparty():
    result = run([bank_line(1, 5000, "Acme Ltd"), bank_line(2, 700, "Other Co")],
                 [bank_item("B1", 5000, "Acme Ltd"), bank_item("B2", 5000, "Someone Else")])
    assert verdicts(result) == [("matched", "amount_one_to_one", "B1"), ("missing_channel", "no_line", "B2"),
                                ("missing_ours", "no_reference", "line 2")]


def test_equal_bank_lines_pair_one_to_one_in_order():
    result = run([bank_line(2, 900, "Acme Ltd"), bank_line(1, 900, "Acme Ltd")],
                 [bank_item("B2", 900, "Acme Ltd", occurred_at=NOON + timedelta(hours=1)), bank_item("B1", 900, "Acme Ltd")])
    pairs = result.rows.sort("line_no").select("line_no", "order_no", "reason").rows()
    assert pairs == [(1, "B1", "amount_one_to_one"), (2, "B2", "amount_one_to_one")]


def test_bank_credit_for_a_days_card_batch_matches_all_its_items():
    items = [bank_item(f"C{i}", amount, "UnionPay Merchant Services") for i, amount in enumerate((1200, 3400, 560))]
    result = run([bank_line(1, 5160, "UnionPay Merchant Services")], items)
    assert verdicts(result) == [("matched", "amount_one_to_many", "C0"), ("matched", "amount_one_to_many", "C1"),
                                ("matched", "amount_one_to_many", "C2")]
    assert set(result.rows["line_no"]) == {1}
    assert result.rows["channel_amount_minor"].sum() == 5160  # each item's share, together the credit


def test_bank_credit_short_of_the_batch_total_matches_nothing():
    items = [bank_item("C1", 1200, "UnionPay"), bank_item("C2", 3400, "UnionPay")]
    result = run([bank_line(1, 4599, "UnionPay")], items)
    assert verdicts(result) == [("missing_channel", "no_line", "C1"), ("missing_channel", "no_line", "C2"),
                                ("missing_ours", "no_reference", "line 1")]


def test_line_without_reference_keeps_its_free_text_for_finance():
    row = single(run([bank_line(1, 300, "Acme Ltd", reference="INV 2025-061 part 1")], []))
    assert (row["category"], row["reason"], row["reference"]) == ("missing_ours", "no_reference", "INV 2025-061 part 1")


def test_pending_item_is_not_matched_by_amount():
    result = run([bank_line(1, 900, "Acme Ltd")], [bank_item("B1", 900, "Acme Ltd", status="pending")])
    assert verdicts(result) == [("missing_ours", "no_reference", "line 1")]


# -- across the cut-off --------------------------------------------------------------------------------


def test_item_paid_just_before_the_cutoff_is_carried_then_matched_next_day_once():
    late = item("P7", occurred_at=CUTOFF - timedelta(minutes=5))
    today = run([line()], [item(), late])
    assert verdicts(today) == [("cross_day", "near_cutoff", "P7"), ("matched", "order_no", "P1")]
    assert today.carried["order_no"].to_list() == ["P7"] and today.carried.schema == pl.Schema(OURS)

    # The channel books it on June 2 and may keep our time on the line.
    june_2 = CUTOFF + timedelta(hours=3)
    tomorrow = run([line("P7", 1, occurred_at=CUTOFF - timedelta(minutes=5)), line("P8", 2, occurred_at=june_2)],
                   [item("P8", occurred_at=june_2)], business_date=NEXT_DAY, carried=today.carried)
    assert verdicts(tomorrow) == [("matched", "order_no", "P7"), ("matched", "order_no", "P8")]
    assert tomorrow.rows.filter(pl.col("order_no") == "P7")["carried"].to_list() == [True]
    assert tomorrow.carried.height == 0


def test_carried_item_still_absent_next_day_is_missing_channel():
    today = run([], [item("P7", occurred_at=CUTOFF - timedelta(minutes=1))])
    tomorrow = run([], [], business_date=NEXT_DAY, carried=today.carried)
    assert verdicts(tomorrow) == [("missing_channel", "carried_no_line", "P7")]
    assert tomorrow.carried.height == 0  # carried once, never twice


def test_carry_window_starts_exactly_carry_window_before_the_cutoff():
    result = run([], [item("P1", occurred_at=CUTOFF - CARRY_WINDOW),
                      item("P2", occurred_at=CUTOFF - CARRY_WINDOW - timedelta(microseconds=1))])
    assert verdicts(result) == [("cross_day", "near_cutoff", "P1"), ("missing_channel", "no_line", "P2")]


def test_unsettled_item_near_the_cutoff_is_not_carried():
    result = run([], [item("P1", status="pending", occurred_at=CUTOFF - timedelta(minutes=1))])
    assert result.rows.height == 0 and result.carried.height == 0


def test_business_date_ends_at_the_cutoff_local_time():
    bank_day = business_day(DAY, "Asia/Shanghai", time(17, 0))
    assert (bank_day.start, bank_day.end) == (datetime(2025, 5, 31, 9, tzinfo=timezone.utc),
                                              datetime(2025, 6, 1, 9, tzinfo=timezone.utc))
    calendar_day = business_day(DAY)
    assert (calendar_day.start, calendar_day.end) == (CUTOFF - timedelta(days=1), CUTOFF)
    late = datetime(2025, 6, 1, 9, 30, tzinfo=timezone.utc)  # 17:30 local: the bank's June 2
    assert verdicts(run([], [item(occurred_at=late - timedelta(hours=1))], cutoff=time(17, 0))) == [
        ("cross_day", "near_cutoff", "P1")]
    with pytest.raises(ReconError) as raised:
        run([], [item(occurred_at=late)], cutoff=time(17, 0))
    assert raised.value.code == "mixed_business_dates"


# -- the result ------------------------------------------------------------------------------------------


def test_summary_counts_and_sums_per_category_and_currency():
    result = run([line("P1", 1), line("P2", 2, amount_minor=1500), line("P3", 3, currency="USD", amount_minor=20)],
                 [item("P1"), item("P2"), item("P3", currency="USD", amount_minor=20), item("P4", amount_minor=70)])
    summary = {(row["category"], row["currency"]): (row["rows"], row["ours_amount_minor"], row["channel_amount_minor"])
               for row in result.summary().iter_rows(named=True)}
    assert summary == {("matched", "CNY"): (1, 1000, 1000), ("matched", "USD"): (1, 20, 20),
                       ("amount_mismatch", "CNY"): (1, 1000, 1500), ("missing_channel", "CNY"): (1, 70, 0)}
    assert result.rows.schema == pl.Schema(RESULT)
    assert result.discrepancies()["order_no"].to_list() == ["P4", "P2"]


def test_empty_statement_and_empty_ours_give_an_empty_result():
    result = run([], [])
    assert result.rows.height == 0 and result.rows.schema == pl.Schema(RESULT)
    assert result.summary().height == 0


# -- bad input -------------------------------------------------------------------------------------------


def test_frame_without_a_column_is_bad_schema():
    with pytest.raises(ReconError) as raised:
        match(statement(line()).drop("status"), ours(item()), DAY)
    assert raised.value.code == "bad_schema" and "statement: no column 'status'" in raised.value.problems


def test_column_of_the_wrong_type_is_bad_schema():
    wrong = ours(item()).with_columns(pl.col("amount_minor").cast(pl.Float64))
    with pytest.raises(ReconError) as raised:
        match(statement(line()), wrong, DAY)
    assert raised.value.code == "bad_schema" and "amount_minor" in str(raised.value)


def test_something_else_than_a_frame_is_bad_schema():
    with pytest.raises(ReconError) as raised:
        match([line()], ours(item()), DAY)
    assert raised.value.code == "bad_schema"


def test_every_bad_value_is_reported_at_once():
    bad = statement(line(status="lost"), line("P2", 2, amount_minor=-5), line("P3", 2, kind=None))
    with pytest.raises(ReconError) as raised:
        match(bad, ours(), DAY)
    assert raised.value.code == "bad_value"
    problems = " | ".join(raised.value.problems)
    for expected in ("no kind", "a status other than", "a negative amount_minor", "a line_no used before"):
        assert expected in problems


def test_line_of_another_business_date_is_mixed_business_dates():
    with pytest.raises(ReconError) as raised:
        run([line(occurred_at=CUTOFF + timedelta(seconds=1))], [item()])
    assert raised.value.code == "mixed_business_dates" and "statement" in str(raised.value)


def test_item_of_another_business_date_is_mixed_business_dates():
    with pytest.raises(ReconError) as raised:
        run([line()], [item(occurred_at=CUTOFF - timedelta(days=1, seconds=1))])
    assert raised.value.code == "mixed_business_dates" and "ours" in str(raised.value)


def test_carried_item_not_of_the_day_before_is_mixed_business_dates():
    with pytest.raises(ReconError) as raised:
        run([], [], carried=ours(item()))  # June 1's item carried into June 1
    assert raised.value.code == "mixed_business_dates" and "carried" in str(raised.value)


def test_two_channels_in_one_run_are_mixed_channels():
    with pytest.raises(ReconError) as raised:
        run([line()], [item(channel="wechatpay")])
    assert raised.value.code == "mixed_channels"


def test_two_items_with_one_number_are_duplicate_key():
    with pytest.raises(ReconError) as raised:
        run([line()], [item(), item(payment_id="pay-other")])
    assert raised.value.code == "duplicate_key" and "P1" in str(raised.value)


def test_unknown_time_zone_is_bad_timezone():
    with pytest.raises(ReconError) as raised:
        run([line()], [item()], tz="Mars/Olympus")
    assert raised.value.code == "bad_timezone"


def test_matching_leaves_its_inputs_as_they_were():
    lines, items = statement(line(), line("P2", 2)), ours(item(), item("P3"))
    before = (lines.clone(), items.clone())
    match(lines, items, DAY)
    assert lines.equals(before[0]) and items.equals(before[1])
