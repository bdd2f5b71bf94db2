"""Matching one channel's statement against our payments and refunds of one business date.

Each pass works on what the passes before it left unmatched:

1. Trade number: refund lines by refund_no, every other line by order_no, in one hash join over
   the day. A second line for a number already on the statement is a duplicate, reported once
   (status_mismatch, reason duplicate_line) beside the first line's own verdict.
2. The channel's trade number (channel_txn_id), where our side knows it and each side holds it
   once (partial refunds of one trade may share it, and a shared number proves nothing).
3. Bank lines without our reference (kind "unknown") against our settled items of the day, per
   currency, direction and counterparty: the exact amount one-to-one, then one line equal to the
   sum of all of that counterparty's remaining items (a day's card batch credited at once).

What is left: a line is missing_ours; our settled item is missing_channel, or cross_day when it
was paid within CARRY_WINDOW before the cut-off. A cross_day item comes back in
`Result.carried`; the next day's run (`carried=`) matches it against that day's statement, and
if it is still absent there it is missing_channel. Our pending or failed items without a line
moved no money and are not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl

from juhe.recon.frames import CATEGORIES, OURS, STATEMENT, UTC_TIME

# A payment in the last 30 minutes before the cut-off may land in the channel's next business
# date: its batch close, its clock and our notification delay all fit in this margin. Such an
# absence is carried one day rather than reported; a longer window would hide real losses.
CARRY_WINDOW = timedelta(minutes=30)

SETTLED = ("succeeded", "refunded")  # money moved, whether or not it was refunded since
STATUS_CLASS = {"succeeded": "settled", "refunded": "settled", "pending": "pending",
                "failed": "failed", "reversed": "failed"}
DIRECTIONS = ("credit", "debit")
LINE_KINDS = ("payment", "refund", "unknown")
ITEM_KINDS = ("payment", "refund", "transfer")
ITEM_STATUSES = ("succeeded", "refunded", "failed", "pending")
REASONS = (
    "order_no", "refund_no", "channel_txn_id", "amount_one_to_one", "amount_one_to_many",  # matched by
    "amount", "currency", "direction",  # amount_mismatch
    "status", "duplicate_line",  # status_mismatch
    "fee",  # fee_mismatch
    "no_item", "no_reference",  # missing_ours: a line with a number we do not know / with none
    "no_line", "carried_no_line",  # missing_channel: today's item / the day before's carried item
    "near_cutoff",  # cross_day
)
CATEGORY = pl.Enum(CATEGORIES)
REASON = pl.Enum(REASONS)

RESULT = {
    "category": CATEGORY,
    "reason": REASON,
    "channel": pl.String,
    "kind": pl.String,
    "order_no": pl.String,
    "refund_no": pl.String,
    "payment_id": pl.String,
    "merchant_id": pl.String,
    "channel_txn_id": pl.String,
    "line_no": pl.Int64,  # the statement line; for a duplicate, the first repeated line
    "currency": pl.String,
    "direction": pl.String,
    "ours_amount_minor": pl.Int64,
    # The line's amount. One-to-many: the share of the line paying this item (the shares add
    # up to the line). Duplicate: the repeated lines' total.
    "channel_amount_minor": pl.Int64,
    "ours_fee_minor": pl.Int64,
    "channel_fee_minor": pl.Int64,
    "ours_status": pl.String,
    "channel_status": pl.String,
    "occurred_at": UTC_TIME,
    "counterparty": pl.String,
    "reference": pl.String,  # the line's free text: what finance reads when no number matched
    "carried": pl.Boolean,  # our item was carried from the day before (null: no item of ours)
}
# Where each result column comes from, first present source wins: our item (o_), the line (c_).
SOURCES = {name: (f"o_{name}", f"c_{name}") for name in
           ("channel", "kind", "order_no", "refund_no", "currency", "direction", "occurred_at", "counterparty")}
SOURCES |= {"payment_id": ("o_payment_id",), "merchant_id": ("o_merchant_id",), "line_no": ("c_line_no",),
            "channel_txn_id": ("c_channel_txn_id", "o_channel_txn_id"),  # the channel's own number first
            "ours_amount_minor": ("o_amount_minor",), "channel_amount_minor": ("c_amount_minor",),
            "ours_fee_minor": ("o_fee_minor",), "channel_fee_minor": ("c_fee_minor",),
            "ours_status": ("o_status",), "channel_status": ("c_status",), "reference": ("c_reference",),
            "carried": ("o_carried",)}
LINE_COLUMNS = [f"c_{name}" for name in STATEMENT] + ["c_refund", "c_row", "_key"]
ITEM_COLUMNS = [f"o_{name}" for name in OURS] + ["o_carried", "o_refund", "o_row"]
AMOUNT_GROUP = ("currency", "direction", "counterparty")


class ReconError(ValueError):
    """Input reconciliation cannot work on; `code` is stable, `problems` lists every one found."""

    def __init__(self, code: str, problems: str | list[str]):
        self.code = code
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(f"{code}: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Day:
    business_date: date
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive: the cut-off
    label: str


@dataclass(frozen=True, slots=True)
class Result:
    business_date: date
    rows: pl.DataFrame  # RESULT: one row per pair, discrepancy or duplicate, in no set order
    carried: pl.DataFrame  # OURS: pass as `carried=` to the next business date's run

    def discrepancies(self) -> pl.DataFrame:
        """Every row that is not `matched`, in a stable order for reports."""
        return self.rows.filter(pl.col("category") != "matched").sort(
            "category", "reason", "line_no", "order_no", "refund_no", nulls_last=True)

    def summary(self) -> pl.DataFrame:
        """Rows and amounts of both sides per category and currency."""
        return (self.rows.group_by("category", "currency")
                .agg(rows=pl.len(), ours_amount_minor=pl.col("ours_amount_minor").sum(),
                     channel_amount_minor=pl.col("channel_amount_minor").sum())
                .sort("category", "currency"))


def business_day(business_date: date, tz: str = "Asia/Shanghai", cutoff: time = time(0, 0)) -> Day:
    """The UTC span of a business date that ends at `cutoff`, local time (00:00: the calendar day)."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReconError("bad_timezone", f"unknown time zone {tz!r}") from None
    if cutoff.tzinfo is not None:
        raise ReconError("bad_cutoff", "the cut-off is a local time of day, without a time zone")
    last = business_date + timedelta(days=1) if cutoff == time(0, 0) else business_date
    start = datetime.combine(last - timedelta(days=1), cutoff, zone).astimezone(timezone.utc)
    end = datetime.combine(last, cutoff, zone).astimezone(timezone.utc)
    return Day(business_date, start, end, f"{business_date} ({tz}, cut-off {cutoff:%H:%M})")


def match(statement: pl.DataFrame, ours: pl.DataFrame, business_date: date, *, tz: str = "Asia/Shanghai",
          cutoff: time = time(0, 0), carried: pl.DataFrame | None = None) -> Result:
    """Reconcile a channel's `statement` (STATEMENT) with `ours` (OURS) of `business_date`.

    The business date ends at `cutoff`, local time in `tz` (00:00: at the midnight ending it).
    Our items must fall within it; lines too, or at most CARRY_WINDOW before it (the lines of
    items carried from the day before). `carried` is the previous business date's
    `Result.carried`. Bad input raises ReconError (codes bad_schema, bad_value,
    mixed_business_dates, mixed_channels, duplicate_key, bad_timezone, bad_cutoff).
    """
    day = business_day(business_date, tz, cutoff)
    lines, items = _checked_inputs(statement, ours, carried, day, tz, cutoff)
    joined = _paired_by_number(items, lines)

    # Of several lines with one number, the first (by line number) is the trade's line, the rest repeat it.
    repeats = joined.filter(pl.col("repeated"))
    first_of_item = pl.col("c_line_no") == pl.col("c_line_no").min().over("o_row")
    lone_lines, lone_items = _lone(joined)
    first_of_number = pl.col("_key").is_null() | (pl.col("c_line_no") == pl.col("c_line_no").min().over("_key"))
    duplicates = pl.concat([repeats.filter(~first_of_item), lone_lines.filter(~first_of_number)], how="diagonal")
    lone_lines = lone_lines.filter(first_of_number)

    by_txn, lone_lines, lone_items = _by_channel_txn_id(lone_lines, lone_items)
    one_to_one, lone_lines, lone_items = _amount_one_to_one(lone_lines, lone_items)
    one_to_many, lone_lines, lone_items = _amount_one_to_many(lone_lines, lone_items)

    by_number = pl.when(pl.col("o_refund")).then(pl.lit("refund_no", REASON)).otherwise(pl.lit("order_no", REASON))
    no_number = pl.when(pl.col("_key").is_null()).then(pl.lit("no_reference", REASON)).otherwise(pl.lit("no_item", REASON))
    frames = [
        _pair_rows(joined.lazy().filter(pl.col("paired") & ~pl.col("repeated")), by_number),
        _pair_rows(repeats.lazy().filter(first_of_item), by_number),
        _pair_rows(by_txn.lazy(), pl.lit("channel_txn_id", REASON)),
        _pair_rows(one_to_one.lazy(), pl.lit("amount_one_to_one", REASON)),
        _pair_rows(one_to_many.lazy(), pl.lit("amount_one_to_many", REASON)),
        _duplicate_rows(duplicates.lazy()),
        _rows(lone_lines.lazy(), pl.lit("missing_ours", CATEGORY), no_number),
        _absent_item_rows(lone_items.lazy(), day),
    ]
    rows = pl.concat(pl.collect_all(frames), rechunk=False)
    near_cutoff = _near_cutoff(day) & pl.col("o_status").is_in(SETTLED) & ~pl.col("o_carried")
    carry = lone_items.filter(near_cutoff).select(pl.col(f"o_{name}").alias(name) for name in OURS)
    return Result(business_date, rows, carry)


# -- the two sides, renamed apart: c_ the channel's line, o_ our item ----------------------------------


def _number(kind: str, refund_no: str, order_no: str) -> pl.Expr:
    return pl.when(pl.col(kind) == "refund").then(pl.col(refund_no)).otherwise(pl.col(order_no))


def _lines(statement: pl.DataFrame) -> pl.DataFrame:
    return statement.select(*[pl.col(name).alias(f"c_{name}") for name in STATEMENT],
                            c_refund=pl.col("kind") == "refund", c_row=pl.int_range(pl.len(), dtype=pl.Int64),
                            _key=_number("kind", "refund_no", "order_no"))


def _items(ours: pl.DataFrame, carried: pl.DataFrame) -> pl.DataFrame:
    both = pl.concat([ours.with_columns(carried=pl.lit(False)), carried.with_columns(carried=pl.lit(True))])
    return both.select(*[pl.col(name).alias(f"o_{name}") for name in OURS], o_carried="carried",
                       o_refund=pl.col("kind") == "refund", o_row=pl.int_range(pl.len(), dtype=pl.Int64),
                       _key=_number("kind", "refund_no", "order_no"))


def _paired_by_number(items: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """The full join on the trade number, with `paired` rows and the `repeated` ones among them.

    Our numbers are unique (a line on two items raises duplicate_key), so an item in two pairs
    has two lines with its number. Rows are counted per item and per line with a bincount over
    their dense row numbers: a hash of a million keys again would cost as much as the join.
    """
    joined = items.join(lines, on="_key", how="full", coalesce=True, maintain_order="none")
    paired = (pl.col("o_row").is_not_null() & pl.col("c_row").is_not_null() & (pl.col("o_refund") == pl.col("c_refund")))
    joined = joined.with_columns(paired=paired)
    mask = joined["paired"].to_numpy()
    item_row = joined["o_row"].fill_null(items.height).to_numpy()
    line_row = joined["c_row"].fill_null(lines.height).to_numpy()
    per_item = np.bincount(item_row[mask], minlength=items.height + 1)
    per_line = np.bincount(line_row[mask], minlength=lines.height + 1)
    _check_one_item_per_number(joined.filter(pl.Series(mask & (per_line[line_row] > 1))))
    return joined.with_columns(repeated=pl.Series(mask & (per_item[item_row] > 1)))


def _lone(joined: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lines and items the trade number did not pair."""
    unpaired = joined.filter(~pl.col("paired"))
    lines = unpaired.filter(pl.col("c_row").is_not_null()).select(LINE_COLUMNS)
    items = unpaired.filter(pl.col("o_row").is_not_null()).select(ITEM_COLUMNS)
    # A refund line on a payment's number (or the reverse) left its item unpaired on that row
    # only; the item may still be paired with its own line on another row.
    crossed = unpaired.filter(pl.col("o_row").is_not_null() & pl.col("c_row").is_not_null())["o_row"]
    if crossed.len():
        elsewhere = joined.filter(pl.col("paired") & pl.col("o_row").is_in(crossed.implode()))["o_row"]
        items = items.filter(~pl.col("o_row").is_in(elsewhere.implode())).unique("o_row")
    return lines, items


# -- after the trade number ------------------------------------------------------------------------------


def _paired_apart(lines: pl.DataFrame, items: pl.DataFrame, pairs: pl.DataFrame):
    """The pairs, and the lines and items still unpaired."""
    return (pairs, lines.filter(~pl.col("c_row").is_in(pairs["c_row"].implode())),
            items.filter(~pl.col("o_row").is_in(pairs["o_row"].implode())))


def _by_channel_txn_id(lines: pl.DataFrame, items: pl.DataFrame):
    """Lines without a number we know, paired by the channel's number where each side holds it once."""
    line_keys, item_keys = ["c_channel_txn_id", "c_refund"], ["o_channel_txn_id", "o_refund"]
    once = [pl.col(keys[0]).is_not_null() & pl.struct(keys).is_unique() for keys in (line_keys, item_keys)]
    pairs = items.filter(once[1]).join(lines.filter(once[0]), left_on=item_keys, right_on=line_keys,
                                       how="inner", coalesce=False)
    return _paired_apart(lines, items, pairs)


def _unreferenced(lines: pl.DataFrame, items: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bank lines without our reference, and the items they may pay: settled today, by a named party."""
    return (lines.filter((pl.col("c_kind") == "unknown") & pl.col("c_counterparty").is_not_null()),
            items.filter(pl.col("o_status").is_in(SETTLED) & ~pl.col("o_carried") & pl.col("o_counterparty").is_not_null()))


def _amount_one_to_one(lines: pl.DataFrame, items: pl.DataFrame):
    unknown, settled = _unreferenced(lines, items)
    line_keys = [f"c_{name}" for name in AMOUNT_GROUP] + ["c_amount_minor"]
    item_keys = [f"o_{name}" for name in AMOUNT_GROUP] + ["o_amount_minor"]
    # Equal amounts from one party pair in order of time: which of two equal lines pays which
    # equal item changes nothing in the books.
    unknown = unknown.with_columns(_nth=pl.int_range(pl.len()).over(line_keys, order_by="c_line_no"))
    settled = settled.with_columns(_nth=pl.int_range(pl.len()).over(item_keys, order_by="o_occurred_at"))
    pairs = settled.join(unknown, left_on=[*item_keys, "_nth"], right_on=[*line_keys, "_nth"],
                         how="inner", coalesce=False)
    return _paired_apart(lines, items, pairs)


def _amount_one_to_many(lines: pl.DataFrame, items: pl.DataFrame):
    """One bank line paying all of a party's remaining items of the day (the first such line, if several)."""
    unknown, settled = _unreferenced(lines, items)
    line_group, item_group = [f"c_{name}" for name in AMOUNT_GROUP], [f"o_{name}" for name in AMOUNT_GROUP]
    totals = settled.group_by(item_group).agg(_total=pl.col("o_amount_minor").sum())
    paying = unknown.join(totals, left_on=[*line_group, "c_amount_minor"], right_on=[*item_group, "_total"],
                          how="inner", coalesce=False)
    paying = paying.filter(pl.col("c_line_no") == pl.col("c_line_no").min().over(line_group))
    pairs = settled.join(paying.select(LINE_COLUMNS), left_on=item_group, right_on=line_group,
                         how="inner", coalesce=False)
    # Each item gets its share of the line; the line's fee is not split across items.
    pairs = pairs.with_columns(c_amount_minor=pl.col("o_amount_minor"), c_fee_minor=pl.lit(None, pl.Int64))
    return _paired_apart(lines, items, pairs)


# -- result rows -------------------------------------------------------------------------------------------


def _rows(frame: pl.LazyFrame, category: pl.Expr, reason: pl.Expr) -> pl.LazyFrame:
    present = set(frame.collect_schema().names())
    columns = [category.cast(CATEGORY).alias("category"), reason.cast(REASON).alias("reason")]
    for name in list(RESULT)[2:]:
        found = [pl.col(source) for source in SOURCES[name] if source in present]
        value = pl.coalesce(found) if len(found) > 1 else found[0] if found else pl.lit(None)
        columns.append(value.cast(RESULT[name]).alias(name))
    return frame.select(columns)


def _pair_rows(pairs: pl.LazyFrame, matched_by: pl.Expr) -> pl.LazyFrame:
    currency = pl.col("o_currency") != pl.col("c_currency")
    direction = pl.col("o_direction") != pl.col("c_direction")
    amount = pl.col("o_amount_minor") != pl.col("c_amount_minor")
    status = (pl.col("o_status") != pl.col("c_status")) & (
        pl.col("o_status").replace_strict(STATUS_CLASS) != pl.col("c_status").replace_strict(STATUS_CLASS))
    fee = (pl.col("o_fee_minor") != pl.col("c_fee_minor")).fill_null(False)  # a side without a fee: nothing to compare
    category = (pl.when(currency | direction | amount).then(pl.lit("amount_mismatch", CATEGORY))
                .when(status).then(pl.lit("status_mismatch", CATEGORY))
                .when(fee).then(pl.lit("fee_mismatch", CATEGORY))
                .otherwise(pl.lit("matched", CATEGORY)))
    reason = (pl.when(currency).then(pl.lit("currency", REASON)).when(direction).then(pl.lit("direction", REASON))
              .when(amount).then(pl.lit("amount", REASON)).when(status).then(pl.lit("status", REASON))
              .when(fee).then(pl.lit("fee", REASON)).otherwise(matched_by))
    return _rows(pairs, category, reason)


def _duplicate_rows(repeats: pl.LazyFrame) -> pl.LazyFrame:
    """One row per number repeated on the statement: the first repeat, and the repeats' total."""
    grouped = (repeats.sort("c_line_no").group_by("_key")
               .agg(pl.all().exclude("c_amount_minor", "c_fee_minor").first(),
                    pl.col("c_amount_minor").sum(), pl.col("c_fee_minor").sum()))
    return _rows(grouped, pl.lit("status_mismatch"), pl.lit("duplicate_line"))


def _near_cutoff(day: Day) -> pl.Expr:
    return pl.col("o_occurred_at") >= day.end - CARRY_WINDOW


def _absent_item_rows(items: pl.LazyFrame, day: Day) -> pl.LazyFrame:
    """Our items no line paid: only settled ones count, money that never moved is not missing."""
    carried, near = pl.col("o_carried"), _near_cutoff(day)
    category = pl.when(carried | ~near).then(pl.lit("missing_channel", CATEGORY)).otherwise(pl.lit("cross_day", CATEGORY))
    reason = (pl.when(carried).then(pl.lit("carried_no_line", REASON)).when(near).then(pl.lit("near_cutoff", REASON))
              .otherwise(pl.lit("no_line", REASON)))
    return _rows(items.filter(pl.col("o_status").is_in(SETTLED)), category, reason)


# -- input checks --------------------------------------------------------------------------------------------


def _checked_inputs(statement, ours, carried, day: Day, tz: str, cutoff: time) -> tuple[pl.DataFrame, pl.DataFrame]:
    statement = _checked(statement, STATEMENT, "statement", LINE_KINDS, tuple(STATUS_CLASS))
    ours = _checked(ours, OURS, "ours", ITEM_KINDS, ITEM_STATUSES)
    carried = ours.clear() if carried is None else _checked(carried, OURS, "carried", ITEM_KINDS, ITEM_STATUSES)
    # A line of an item carried from the day before may bear that item's time.
    _check_dates(statement, "statement", day.start - CARRY_WINDOW, day.end, day)
    _check_dates(ours, "ours", day.start, day.end, day)
    before = business_day(day.business_date - timedelta(days=1), tz, cutoff)
    _check_dates(carried, "carried", before.start, before.end, before)
    _check_one_channel(statement, ours, carried)
    return _lines(statement), _items(ours, carried)


def _checked(frame, schema: dict, side: str, kinds: tuple, statuses: tuple) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame):
        raise ReconError("bad_schema", f"{side}: a Polars DataFrame is needed, not {type(frame).__name__}")
    problems = [f"{side}: no column {name!r}" for name in schema if name not in frame.schema]
    problems += [f"{side}: column {name!r} is {frame.schema[name]}, expected {dtype}"
                 for name, dtype in schema.items() if name in frame.schema and frame.schema[name] != dtype]
    if problems:
        raise ReconError("bad_schema", problems)
    frame = frame.select(list(schema))
    required = ["channel", "kind", "amount_minor", "currency", "direction", "status"]
    required += ["line_no"] if side == "statement" else ["occurred_at"]
    checks = {f"no {name}": pl.col(name).is_null().sum() for name in required}
    for name, allowed in (("kind", kinds), ("direction", DIRECTIONS), ("status", statuses)):
        checks[f"a {name} other than {'/'.join(allowed)}"] = (~pl.col(name).is_in(allowed)).sum()
    checks["a negative amount_minor"] = (pl.col("amount_minor") < 0).sum()
    checks["a negative fee_minor"] = (pl.col("fee_minor") < 0).sum()
    if side == "statement":
        checks["a line_no used before"] = pl.len() - pl.col("line_no").n_unique()
    counts = frame.select(**checks).row(0, named=True)
    problems = [f"{side}: {count:,} row(s) with {label}" for label, count in counts.items() if count]
    if problems:
        raise ReconError("bad_value", problems)
    return frame


def _check_dates(frame: pl.DataFrame, side: str, low: datetime, high: datetime, day: Day) -> None:
    outside = frame.filter((pl.col("occurred_at") < low) | (pl.col("occurred_at") >= high))
    if outside.height:
        first = outside.sort("occurred_at")["occurred_at"][0]
        raise ReconError("mixed_business_dates", f"{side}: {outside.height:,} row(s) outside business date "
                                                 f"{day.label}, the earliest at {first:%Y-%m-%d %H:%M:%S} UTC")


def _check_one_channel(*frames: pl.DataFrame) -> None:
    channels = sorted(set().union(*(frame["channel"].unique().to_list() for frame in frames)))
    if len(channels) > 1:
        raise ReconError("mixed_channels", f"one channel per reconciliation, not {', '.join(channels)}")


def _check_one_item_per_number(ambiguous: pl.DataFrame) -> None:
    """Lines paired with two items: two items bear one number, and every pair of it is doubtful.

    Checked where it matters, on the pairs; two items of one number without a line are both
    reported missing_channel, which shows the fault as well.
    """
    if ambiguous.height:
        numbers = ambiguous["_key"].unique().sort()
        raise ReconError("duplicate_key", f"ours: {len(numbers):,} trade number(s) on more than one item, "
                                          f"e.g. {', '.join(numbers.head(3).to_list())}")
