"""A realistic business day for one channel, its statement, and the discrepancies put into it.

`generate_day` makes N payments of ours (a few failed, some refunded in full or in part), the
channel's statement of them, and then breaks a known share of the day in every way the
matcher must find: each case below is applied to different items, and `injected` lists what
the matcher should report for it, so `score` can tell what it found, missed or invented.
Bank lines without our reference (one-to-one and a batch credit paying several items) and
lines without our order number are in the list too: those the matcher must pair cleanly.
"""

from __future__ import annotations

from datetime import date, datetime, time

import numpy as np
import polars as pl

from juhe.recon.frames import STATEMENT, UTC_TIME, conform
from juhe.recon.matching import CARRY_WINDOW, Result, business_day

# case -> (category, reason) the matcher must report for it
CASES = {
    "missing_ours": ("missing_ours", "no_item"),  # we lost the item, the channel has the line
    "missing_channel": ("missing_channel", "no_line"),
    "amount_mismatch": ("amount_mismatch", "amount"),
    "status_mismatch": ("status_mismatch", "status"),  # we still pending, or the channel reversed it
    "fee_mismatch": ("fee_mismatch", "fee"),
    "cross_day": ("cross_day", "near_cutoff"),  # paid just before the cut-off, on tomorrow's statement
    "duplicate_line": ("status_mismatch", "duplicate_line"),
    "unreferenced_line": ("missing_ours", "no_reference"),  # money from a party we expected nothing from
    "channel_txn_id": ("matched", "channel_txn_id"),  # the line lacks our number, we know the channel's
    "amount_one_to_one": ("matched", "amount_one_to_one"),
    "amount_one_to_many": ("matched", "amount_one_to_many"),  # one credit for a few items of one party
}
# cases applied to an item of ours or its line, keyed by our number; the rest are bank lines
ITEM_CASES = ("missing_ours", "missing_channel", "amount_mismatch", "status_mismatch", "fee_mismatch", "cross_day",
              "duplicate_line", "channel_txn_id")
INJECTED = {"category": pl.String, "reason": pl.String, "key": pl.String}  # key: our number, or "line:<line_no>"
FEE_RATE_BPS = 60  # 0.6 %, a usual wallet merchant rate
MERCHANTS = 5
BATCH_ITEMS = (2, 5)  # items paid by one batch credit: at least, below
LINE_DELAY_US = 2_000_000  # the channel records a trade up to 2 s after we do
CARRIED_STILL_MISSING = 0.25  # of the items carried in, the share the next statement still lacks
US = 1_000_000
STATUSES = ("succeeded", "refunded", "failed", "pending", "reversed")  # codes in the arrays: their index
SUCCEEDED, REFUNDED, FAILED, PENDING, REVERSED = range(len(STATUSES))


def generate_day(n: int, seed: int, business_date: date, discrepancy_rate: float = 0.005, *, channel: str = "bank",
                 currency: str = "CNY", refund_rate: float = 0.04, failed_rate: float = 0.01,
                 tz: str = "Asia/Shanghai", cutoff: time = time(0, 0),
                 carried: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(ours, statement, injected) of one business date; the same arguments make the same day.

    `carried` is the previous day's `Result.carried`: their lines are on this statement
    (CARRIED_STILL_MISSING of them excepted), and `injected` says how each must come out.
    """
    if n < 1:
        raise ValueError("n must be at least 1 payment")
    for name, rate in (("discrepancy_rate", discrepancy_rate), ("refund_rate", refund_rate), ("failed_rate", failed_rate)):
        if not 0 <= rate <= 1:
            raise ValueError(f"{name} must be a fraction between 0 and 1")
    rng = np.random.default_rng(seed)
    day = business_day(business_date, tz, cutoff)
    start_us, end_us = _us(day.start), _us(day.end)
    items = _items(rng, n, refund_rate, failed_rate, start_us, end_us)
    lines = _lines_of(items, rng, end_us)
    plan = _targets(rng, items, round(len(lines["item"]) * discrepancy_rate))
    tags: list[tuple[str, str, int]] = []  # (case, "item" or "line", index into those arrays)
    lines = _inject(rng, items, lines, plan, start_us, end_us, tags)
    carried_lines, carried_outcomes = _carried(rng, carried)

    # Yesterday's carried lines bear yesterday's times: they come first on the statement.
    line_no = np.zeros(len(lines["item"]), dtype=np.int64)
    order = np.flatnonzero(lines["keep"])[np.argsort(lines["at_us"][lines["keep"]], kind="stable")]
    line_no[order] = np.arange(len(order)) + 1 + carried_lines.height
    stamp = f"{business_date:%Y%m%d}"
    statement = pl.concat([carried_lines, _statement(lines, order, line_no, items, stamp, channel, currency)])
    ours = _ours(items, stamp, channel, currency)
    return ours, statement, pl.concat([_injected(tags, items, line_no, stamp), carried_outcomes])


def score(result: Result, injected: pl.DataFrame) -> dict[str, int]:
    """How many injected outcomes the result reports exactly, misses, and which discrepancies it invents."""
    number = pl.when(pl.col("kind") == "refund").then(pl.col("refund_no")).otherwise(pl.col("order_no"))
    line = pl.concat_str(pl.lit("line:"), pl.col("line_no").cast(pl.String))
    by_line = pl.col("reason").is_in(["amount_one_to_one", "amount_one_to_many"]) | number.is_null()
    keys = ["category", "reason", "key"]
    observed = (result.rows.lazy()
                .filter((pl.col("category") != "matched") | ~pl.col("reason").is_in(["order_no", "refund_no"])
                        | pl.col("carried"))
                .select(pl.col("category").cast(pl.String), pl.col("reason").cast(pl.String),
                        key=pl.when(by_line).then(line).otherwise(number))
                .unique().collect())
    expected = injected.unique()
    found = expected.join(observed, on=keys, how="semi").height
    invented = observed.filter(pl.col("category") != "matched").join(expected, on=keys, how="anti").height
    return {"injected": expected.height, "found": found, "missed": expected.height - found, "invented": invented}


# -- the day as it should have been -----------------------------------------------------------------------------


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * US + moment.microsecond


def _items(rng, n: int, refund_rate: float, failed_rate: float, start_us: int, end_us: int) -> dict[str, np.ndarray]:
    """Payments (seq = payment number) and refunds of some of them, as arrays; status as STATUSES codes."""
    amount = np.clip(np.rint(np.exp(rng.normal(8.6, 1.1, n))), 100, 20_000_000).astype(np.int64)
    paid_us = rng.integers(start_us, end_us, n)
    status = np.where(rng.random(n) < failed_rate, FAILED, SUCCEEDED).astype(np.int8)
    refundable = np.flatnonzero(status == SUCCEEDED)
    refunded = rng.choice(refundable, size=min(round(n * refund_rate), len(refundable)), replace=False)
    in_full = rng.random(len(refunded)) < 0.5
    refund_amount = np.where(in_full, amount[refunded], rng.integers(1, amount[refunded] + 1))
    status[refunded[in_full]] = REFUNDED
    fee = amount * FEE_RATE_BPS // 10_000
    r = len(refunded)
    refunded_us = paid_us[refunded] + (rng.random(r) * (end_us - paid_us[refunded])).astype(np.int64)
    has_refund = np.zeros(n + r, dtype=bool)
    has_refund[refunded] = True
    return {
        "seq": np.concatenate([np.arange(n), refunded]),  # the payment a refund returns
        "refund_seq": np.concatenate([np.full(n, -1), np.arange(r)]),
        "amount": np.concatenate([amount, refund_amount]),
        # a refund returns the fee in proportion, rounded down as the channels do
        "fee": np.concatenate([fee, fee[refunded] * refund_amount // amount[refunded]]),
        "at_us": np.concatenate([paid_us, refunded_us]),
        "status": np.concatenate([status, np.full(r, SUCCEEDED, dtype=np.int8)]),
        "party": np.zeros(n + r, dtype=np.int64),  # 0: a wallet payer the file does not name; > 0: a company
        "txn_known": np.ones(n + r, dtype=bool),
        "keep": np.ones(n + r, dtype=bool),
        "has_refund": has_refund,  # never a target: its refund would be on the statement anyway
    }


def _lines_of(items: dict, rng, end_us: int) -> dict[str, np.ndarray]:
    """One line per settled item, as the channel records it."""
    settled = np.flatnonzero(items["status"] != FAILED)
    at_us = np.minimum(items["at_us"][settled] + rng.integers(0, LINE_DELAY_US, len(settled)), end_us - 1)
    return {"item": settled, "amount": items["amount"][settled].copy(), "fee": items["fee"][settled].copy(),
            "status": np.full(len(settled), SUCCEEDED, dtype=np.int8), "at_us": at_us,
            "numbered": np.ones(len(settled), dtype=bool), "unknown": np.zeros(len(settled), dtype=bool),
            "keep": np.ones(len(settled), dtype=bool), "party": np.zeros(len(settled), dtype=np.int64)}


def _targets(rng, items: dict, total: int) -> dict:
    """Different items for every case, `total` cases spread evenly; bank cases take payments only."""
    counts = {case: total // len(CASES) + (i < total % len(CASES)) for i, case in enumerate(CASES)}
    kept = (items["status"] == SUCCEEDED) & ~items["has_refund"]
    pool = rng.permutation(np.flatnonzero(kept))
    sizes = rng.integers(*BATCH_ITEMS, counts["amount_one_to_many"])
    used = sum(counts[case] for case in ITEM_CASES)
    payments = np.flatnonzero(kept & (items["refund_seq"] < 0))
    bank = rng.permutation(payments[~np.isin(payments, pool[:used])])
    if used > len(pool) or counts["amount_one_to_one"] + sizes.sum() > len(bank):
        raise ValueError("discrepancy_rate is too high for this many payments")
    plan = dict(zip(ITEM_CASES, np.split(pool[:used], np.cumsum([counts[case] for case in ITEM_CASES])[:-1])))
    plan["amount_one_to_one"], batches = np.split(bank[: counts["amount_one_to_one"] + sizes.sum()],
                                                  [counts["amount_one_to_one"]])
    plan["amount_one_to_many"] = np.split(batches, np.cumsum(sizes)[:-1]) if len(sizes) else []
    plan["unreferenced_line"] = counts["unreferenced_line"]
    return plan


# -- breaking it -----------------------------------------------------------------------------------------------


def _inject(rng, items: dict, lines: dict, plan: dict, start_us: int, end_us: int, tags: list) -> dict:
    """Apply every case to its targets; returns the lines with the repeated and the extra ones added."""
    line_of = np.full(len(items["amount"]), -1)
    line_of[lines["item"]] = np.arange(len(lines["item"]))
    for case in ITEM_CASES:
        tags.extend((case, "item", int(i)) for i in plan[case])
    _break_items(rng, items, lines, line_of, plan, end_us)
    repeated = line_of[plan["duplicate_line"]]
    extras = _bank_lines(rng, items, lines, line_of, plan, start_us, end_us, len(lines["item"]) + len(repeated), tags)
    return {name: np.concatenate([values, values[repeated], extras[name]]) for name, values in lines.items()}


def _break_items(rng, items: dict, lines: dict, line_of: np.ndarray, plan: dict, end_us: int) -> None:
    carry_us = int(CARRY_WINDOW.total_seconds()) * US
    items["keep"][plan["missing_ours"]] = False
    absent = plan["missing_channel"]  # kept clear of the carry window, or it would be cross_day
    lines["keep"][line_of[absent]] = False
    items["at_us"][absent] -= np.where(items["at_us"][absent] >= end_us - carry_us, carry_us + 60 * US, 0)
    changed = line_of[plan["amount_mismatch"]]
    delta = rng.integers(1, 500, len(changed))
    lower = (rng.random(len(changed)) < 0.5) & (lines["amount"][changed] > delta)
    lines["amount"][changed] += np.where(lower, -delta, delta)
    still_pending, reversed_ = plan["status_mismatch"][::2], plan["status_mismatch"][1::2]
    items["status"][still_pending], items["txn_known"][still_pending] = PENDING, False
    lines["status"][line_of[reversed_]] = REVERSED
    lines["fee"][line_of[plan["fee_mismatch"]]] += rng.integers(1, 50, len(plan["fee_mismatch"]))
    late = plan["cross_day"]
    items["at_us"][late] = end_us - rng.integers(US, carry_us - US, len(late))
    lines["keep"][line_of[late]] = False
    lines["numbered"][line_of[plan["channel_txn_id"]]] = False


def _bank_lines(rng, items: dict, lines: dict, line_of: np.ndarray, plan: dict, start_us: int, end_us: int,
                first_extra: int, tags: list) -> dict:
    """Bank cases, each with its own counterparty: a line losing our number, and new credits (returned)."""
    companies = iter(range(1, 1 + len(items["amount"])))
    one = plan["amount_one_to_one"]
    items["party"][one] = [next(companies) for _ in one]
    items["txn_known"][one], lines["unknown"][line_of[one]] = False, True
    tags.extend(("amount_one_to_one", "line", int(i)) for i in line_of[one])
    extra = {"amount": [], "at_us": [], "party": []}
    for batch in plan["amount_one_to_many"]:
        party = next(companies)
        items["party"][batch], items["txn_known"][batch], lines["keep"][line_of[batch]] = party, False, False
        tags.append(("amount_one_to_many", "line", first_extra + len(extra["amount"])))
        _extra_line(extra, int(items["amount"][batch].sum()), int(items["at_us"][batch].max()), party)
    for _ in range(plan["unreferenced_line"]):
        tags.append(("unreferenced_line", "line", first_extra + len(extra["amount"])))
        _extra_line(extra, int(rng.integers(100, 1_000_000)), int(rng.integers(start_us, end_us)), next(companies))
    k = len(extra["amount"])
    return {"item": np.full(k, -1), "amount": np.array(extra["amount"], dtype=np.int64), "fee": np.zeros(k, dtype=np.int64),
            "status": np.full(k, SUCCEEDED, dtype=np.int8), "at_us": np.array(extra["at_us"], dtype=np.int64),
            "numbered": np.zeros(k, dtype=bool), "unknown": np.ones(k, dtype=bool), "keep": np.ones(k, dtype=bool),
            "party": np.array(extra["party"], dtype=np.int64)}


def _extra_line(extra: dict, amount: int, at_us: int, party: int) -> None:
    """A bank credit that pays no one item of ours by our number."""
    extra["amount"].append(amount)
    extra["at_us"].append(at_us)
    extra["party"].append(party)


def _carried(rng, carried: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Today's lines of yesterday's carried items (numbered first), and how each item must come out."""
    if carried is None or carried.height == 0:
        return pl.DataFrame(schema=STATEMENT), pl.DataFrame(schema=INJECTED)
    missing = pl.Series(rng.random(carried.height) < CARRIED_STILL_MISSING)
    number = pl.when(pl.col("kind") == "refund").then(pl.col("refund_no")).otherwise(pl.col("order_no"))
    lines = (carried.filter(~missing).sort("occurred_at")
             .with_columns(status=pl.lit("succeeded"), line_no=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)))
    injected = carried.select(
        category=pl.when(missing).then(pl.lit("missing_channel")).otherwise(pl.lit("matched")),
        reason=pl.when(missing).then(pl.lit("carried_no_line"))
        .when(pl.col("kind") == "refund").then(pl.lit("refund_no")).otherwise(pl.lit("order_no")),
        key=number)
    return conform(lines, STATEMENT), injected


# -- frames ---------------------------------------------------------------------------------------------------


def _numbered(prefix: str, column: str) -> pl.Expr:
    # a leading 1 gives every number one width without the cost of padding a million strings
    return pl.concat_str(pl.lit(prefix), (pl.col(column) + 10**9).cast(pl.String))


def _status(column: str) -> pl.Expr:
    return pl.col(column).replace_strict(dict(enumerate(STATUSES)), return_dtype=pl.String)


def _company(column: str) -> pl.Expr:
    return pl.when(pl.col(column) > 0).then(pl.format("Customer {} Co., Ltd.", pl.col(column)))


def _ours(items: dict, stamp: str, channel: str, currency: str) -> pl.DataFrame:
    """Our items as loaded from the database: those we lost are not there."""
    raw = pl.DataFrame({name: items[name][items["keep"]] for name in
                        ("seq", "refund_seq", "amount", "fee", "at_us", "party", "status", "txn_known")})
    raw = raw.with_columns(item=pl.Series(np.flatnonzero(items["keep"])))
    refund = pl.col("refund_seq") >= 0
    return raw.select(
        channel=pl.lit(channel), merchant_id=pl.format("merchant-{}", pl.col("seq") % MERCHANTS),
        kind=pl.when(refund).then(pl.lit("refund")).otherwise(pl.lit("payment")),
        order_no=_numbered(f"{stamp}P", "seq"), refund_no=pl.when(refund).then(_numbered(f"{stamp}R", "refund_seq")),
        payment_id=_numbered(f"pay-{stamp}-", "seq"),
        channel_txn_id=pl.when(pl.col("txn_known")).then(_numbered(f"C{stamp}", "item")),
        amount_minor="amount", fee_minor="fee", currency=pl.lit(currency),
        direction=pl.when(refund).then(pl.lit("debit")).otherwise(pl.lit("credit")), status=_status("status"),
        occurred_at=pl.col("at_us").cast(UTC_TIME), counterparty=_company("party"),
    )


def _statement(lines: dict, order: np.ndarray, line_no: np.ndarray, items: dict, stamp: str, channel: str,
               currency: str) -> pl.DataFrame:
    """The channel's lines in the order of `order`: an extra bank line has no item (-1) of ours."""
    item = lines["item"][order]
    of_item = np.maximum(item, 0)
    raw = pl.DataFrame({name: lines[name][order] for name in ("amount", "fee", "at_us", "status", "numbered", "unknown")}
                       | {"item": item, "line_no": line_no[order], "seq": items["seq"][of_item],
                          "refund_seq": np.where(item >= 0, items["refund_seq"][of_item], -1),
                          "party": np.where(item >= 0, items["party"][of_item], lines["party"][order])})
    numbered, unknown, refund = pl.col("numbered") & ~pl.col("unknown"), pl.col("unknown"), pl.col("refund_seq") >= 0
    return raw.select(
        channel=pl.lit(channel), line_no="line_no",
        kind=pl.when(unknown).then(pl.lit("unknown")).when(refund).then(pl.lit("refund")).otherwise(pl.lit("payment")),
        order_no=pl.when(numbered).then(_numbered(f"{stamp}P", "seq")),
        refund_no=pl.when(numbered & refund).then(_numbered(f"{stamp}R", "refund_seq")),
        channel_txn_id=pl.when(~unknown).then(_numbered(f"C{stamp}", "item")),
        amount_minor="amount", fee_minor=pl.when(~unknown).then("fee"), currency=pl.lit(currency),
        direction=pl.when(refund).then(pl.lit("debit")).otherwise(pl.lit("credit")), status=_status("status"),
        occurred_at=pl.col("at_us").cast(UTC_TIME), counterparty=_company("party"), reference=pl.lit(None, pl.String),
    )


def _injected(tags: list, items: dict, line_no: np.ndarray, stamp: str) -> pl.DataFrame:
    """What the matcher must report for each case: against our number, or the line it must pair."""
    rows = []
    for case, points_at, index in tags:
        if points_at == "line":
            key = f"line:{line_no[index]}"
        elif items["refund_seq"][index] >= 0:
            key = f"{stamp}R{items['refund_seq'][index] + 10**9}"
        else:
            key = f"{stamp}P{items['seq'][index] + 10**9}"
        rows.append((*CASES[case], key))
    return pl.DataFrame(rows, schema=INJECTED, orient="row")
