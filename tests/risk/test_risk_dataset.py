"""Labelled history: the generator's world and the CSV format anyone can evaluate on."""

from __future__ import annotations

import polars as pl
import pytest

from juhe.risk.dataset import HISTORY, read_history, write_history
from juhe.risk.facts import RiskError
from juhe.risk.generator import generate
from juhe.risk.replay import feature_frame

HEADER = ",".join(HISTORY)


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    return generate(400, 14, 3, warmup_days=5)


def test_the_same_seed_is_the_same_world_and_another_seed_another(history):
    assert generate(400, 14, 3, warmup_days=5).equals(history)
    other = generate(400, 14, 4, warmup_days=5)
    assert not other.equals(history)
    assert set(other["payer_id"].to_list()).isdisjoint(history["payer_id"].to_list())


def test_history_is_in_time_order_with_unique_payment_ids(history):
    assert history["occurred_at"].is_sorted()
    ids = history.filter(pl.col("kind") == "payment")["payment_id"]
    assert ids.null_count() == 0 and ids.n_unique() == ids.len()


def test_fraud_happens_only_after_the_warm_up_in_all_three_typologies(history):
    start = history["occurred_at"].min()
    fraud = history.filter(pl.col("is_fraud") & (pl.col("kind") == "payment"))
    assert set(fraud["fraud_type"].unique()) == {"stolen_card", "cash_out", "account_takeover"}
    assert (fraud["occurred_at"].min() - start).days >= 4  # day 5 starts 16:00 UTC of the 4th calendar day
    share = fraud.height / history.filter(pl.col("kind") == "payment").height
    assert 0.002 < share < 0.03


def test_legit_life_is_not_trivially_clean(history):
    frame = feature_frame(history, warmup_days=5).filter("scored")
    legit = frame.filter(~pl.col("is_fraud"))
    # Honest payers too get new devices, travel, pay at night, pay much more than usual and look impossible.
    for flag in ("new_device", "new_region", "night", "impossible_travel", "ip_location_mismatch", "round_amount"):
        assert legit[flag].sum() > 0, flag
    assert (legit["amount_to_usual_ratio"] > 10).sum() > 0
    assert history.filter((pl.col("kind") == "password_reset") & ~pl.col("is_fraud")).height > 0
    fraud = frame.filter(pl.col("is_fraud"))
    assert fraud["new_device"].mean() < 1.0  # cash-out and screen-sharing come from the payer's own phone


def test_csv_round_trip(history, tmp_path):
    path = tmp_path / "history.csv"
    write_history(history, path)
    assert read_history(path).equals(history)


def test_csv_accepts_any_column_order_offsets_and_true_false(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text(
        "is_fraud,kind,payment_id,occurred_at,payer_id,merchant_id,merchant_category,amount_minor,currency,card_id,"
        "device_id,ip,latitude,longitude,fraud_type,note\n"
        "true,payment,a,2026-03-02T09:00:00+08:00,p1,m1,grocery,1200,CNY,c1,d1,58.16.0.1,39.9,116.4,stolen_card,x\n"
        ",password_reset,,2026-03-02T00:30:00Z,p1,,,,,,,,,,,\n", encoding="utf-8")
    frame = read_history(path)
    assert frame["kind"].to_list() == ["password_reset", "payment"]  # time order: 00:30Z before 01:00Z
    assert frame["is_fraud"].to_list() == [None, True] and frame["amount_minor"].to_list() == [None, 1200]


@pytest.mark.parametrize("row, message", [
    ("payment,a,2026-03-02T01:00:00Z,p1,m1,grocery,-5,CNY,c1,d1,1.2.3.4,,,0,", "amount_minor is not a positive integer (line 2)"),
    ("payment,a,yesterday,p1,m1,grocery,5,CNY,c1,d1,1.2.3.4,,,0,", "occurred_at is not an ISO 8601 time (line 2)"),
    ("refund,a,2026-03-02T01:00:00Z,p1,m1,grocery,5,CNY,c1,d1,1.2.3.4,,,0,", "kind is not payment or password_reset"),
    ("payment,a,2026-03-02T01:00:00Z,p1,m1,grocery,5,CNY,c1,d1,1.2.3.4,91,10,0,", "latitude/longitude"),
    ("payment,a,2026-03-02T01:00:00Z,p1,m1,grocery,5,CNY,c1,,1.2.3.4,,,0,", "device_id is empty on a payment row"),
    ("payment,a,2026-03-02T01:00:00Z,p1,m1,grocery,5,CNY,c1,d1,1.2.3.4,,,maybe,", "is_fraud is not 1/0/true/false"),
    ("payment,a,2026-03-02T01:00:00Z,p1,m1,grocery,5,ABC,c1,d1,1.2.3.4,,,0,", "unknown currency 'ABC'"),
])
def test_bad_rows_are_reported_with_their_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    with pytest.raises(RiskError) as caught:
        read_history(path)
    assert caught.value.code == "bad_history" and message in str(caught.value)


def test_a_repeated_payment_id_is_reported_on_its_second_line(tmp_path):
    row = "payment,a,2026-03-02T01:00:00Z,p1,m1,grocery,5,CNY,c1,d1,1.2.3.4,,,0,"
    path = tmp_path / "twice.csv"
    path.write_text(f"{HEADER}\n{row}\n{row}\n", encoding="utf-8")
    with pytest.raises(RiskError) as caught:
        read_history(path)
    assert "payment_id repeats an earlier row's (line 3)" in str(caught.value)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("kind,occurred_at\npayment,2026-03-02T01:00:00Z\n", encoding="utf-8")
    with pytest.raises(RiskError) as caught:
        read_history(path)
    assert "missing columns payment_id, payer_id" in str(caught.value)
