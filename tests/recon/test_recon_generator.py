"""The generated day: every case of discrepancy is injected and known, and the matcher finds each
of them and invents none, for several seeds and sizes, across a cut-off and into the next day."""

from __future__ import annotations

from datetime import date, time

import polars as pl
import pytest

from juhe.recon.frames import OURS, STATEMENT
from juhe.recon.generator import CASES, INJECTED, generate_day, score
from juhe.recon.matching import match

DAY = date(2025, 6, 1)


@pytest.mark.parametrize(("n", "seed", "rate"), [(300, 1, 0.2), (2_000, 2, 0.05), (5_000, 3, 0.02), (20_000, 4, 0.005)])
def test_matcher_finds_every_injected_discrepancy_and_invents_none(n, seed, rate):
    ours, statement, injected = generate_day(n, seed, DAY, rate)
    figures = score(match(statement, ours, DAY), injected)
    assert figures["missed"] == 0 and figures["invented"] == 0, figures
    assert figures["found"] == figures["injected"] >= len(CASES)


def test_every_case_is_injected_and_counted():
    ours, statement, injected = generate_day(3_000, 5, DAY, 0.05)
    assert set(injected.select("category", "reason").unique().rows()) == set(CASES.values())
    assert injected.schema == pl.Schema(INJECTED)
    assert injected["key"].n_unique() == injected.height  # each case its own item or line
    # spread evenly: no case more than one ahead of another
    per_case = injected.group_by("category", "reason").len()["len"]
    assert per_case.max() - per_case.min() <= 1


def test_generated_frames_keep_the_contract():
    ours, statement, _ = generate_day(1_000, 6, DAY, 0.05)
    assert ours.schema == pl.Schema(OURS) and statement.schema == pl.Schema(STATEMENT)
    assert statement["line_no"].to_list() == list(range(1, statement.height + 1))
    assert statement["occurred_at"].is_sorted()
    assert ours["amount_minor"].min() > 0 and set(statement["kind"]) == {"payment", "refund", "unknown"}
    assert set(ours["kind"]) == {"payment", "refund"} and ours["order_no"].null_count() == 0


def test_the_same_seed_makes_the_same_day():
    first, second, other = (generate_day(800, seed, DAY, 0.05) for seed in (9, 9, 10))
    assert all(a.equals(b) for a, b in zip(first, second))
    assert not first[1].equals(other[1])


def test_carried_items_settle_or_go_missing_the_next_day():
    ours, statement, injected = generate_day(4_000, 11, DAY, 0.05)
    today = match(statement, ours, DAY)
    assert score(today, injected)["missed"] == 0
    assert today.carried.height == injected.filter(pl.col("category") == "cross_day").height > 0

    next_day = date(2025, 6, 2)
    ours2, statement2, injected2 = generate_day(4_000, 12, next_day, 0.05, carried=today.carried)
    tomorrow = match(statement2, ours2, next_day, carried=today.carried)
    figures = score(tomorrow, injected2)
    assert figures["missed"] == 0 and figures["invented"] == 0, figures
    carried_numbers = set(today.carried["order_no"]) | set(today.carried["refund_no"].drop_nulls())
    outcomes = injected2.filter(pl.col("key").is_in(list(carried_numbers)))
    assert outcomes.height == today.carried.height
    assert set(outcomes["category"]) == {"matched", "missing_channel"}  # settled today, or still absent
    assert tomorrow.rows.filter(pl.col("carried") & (pl.col("category") == "cross_day")).height == 0


def test_a_bank_cutoff_day_is_matched_as_cleanly():
    ours, statement, injected = generate_day(2_000, 13, DAY, 0.05, cutoff=time(17, 0), tz="Asia/Shanghai")
    figures = score(match(statement, ours, DAY, cutoff=time(17, 0)), injected)
    assert figures["missed"] == 0 and figures["invented"] == 0, figures


def test_score_counts_what_is_missed_and_what_is_invented():
    ours, statement, injected = generate_day(2_000, 14, DAY, 0.05)
    result = match(statement, ours, DAY)
    fee = result.rows.filter(pl.col("category") == "fee_mismatch").head(1)
    doctored = type(result)(DAY, pl.concat([
        result.rows.filter(pl.col("line_no").ne_missing(fee["line_no"][0])),
        fee.with_columns(category=pl.lit("amount_mismatch", result.rows.schema["category"]),
                         reason=pl.lit("amount", result.rows.schema["reason"]))]), result.carried)
    figures = score(doctored, injected)
    assert figures["missed"] == 1 and figures["invented"] == 1
    assert figures["found"] == figures["injected"] - 1


@pytest.mark.parametrize("arguments", [dict(n=0), dict(discrepancy_rate=1.5), dict(refund_rate=-0.1),
                                       dict(n=20, discrepancy_rate=1.0)])
def test_bad_arguments_are_refused(arguments):
    with pytest.raises(ValueError):
        generate_day(**({"n": 100, "seed": 1, "business_date": DAY} | arguments))
