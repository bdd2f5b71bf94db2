"""The frame of money movements that transaction monitoring reads, and its CSV form.

One row per movement on a customer's account (a payment collected, a payout, a transfer):

| column          | type                | meaning                                                       |
|-----------------|---------------------|---------------------------------------------------------------|
| movement_id     | str                 | our id of the movement; alerts cite these as evidence         |
| account_id      | str                 | the monitored customer's account                              |
| counterparty_id | str                 | who paid in or was paid (account, payer id or name)           |
| direction       | str                 | `in` (money into the account) or `out`                        |
| amount_minor    | int                 | positive, minor units of `currency`                           |
| currency        | str                 | ISO 4217                                                      |
| occurred_at     | datetime (UTC)      | when it happened; CSV: ISO 8601 with an offset                |
| channel         | str                 | channel code (alipay, wechatpay, bank, pos, ...); `cash` for  |
|                 |                     | cash, `crossborder` for cross-border transfers                |
| account_type    | str                 | `corporate` (the default when absent) or `person`: PBoC       |
|                 |                     | large-value thresholds differ by customer type                |

An account in Juhe's ledger holds one currency, so monitoring groups by (account_id, currency).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from juhe.aml.errors import AmlError
from juhe.money import MoneyError, check_currency

UTC_TIME = pl.Datetime("us", "UTC")
MOVEMENTS = {
    "movement_id": pl.String,
    "account_id": pl.String,
    "counterparty_id": pl.String,
    "direction": pl.String,
    "amount_minor": pl.Int64,
    "currency": pl.String,
    "occurred_at": UTC_TIME,
    "channel": pl.String,
    "account_type": pl.String,
}
REQUIRED = tuple(name for name in MOVEMENTS if name != "account_type")
DIRECTIONS = ("in", "out")
ACCOUNT_TYPES = ("corporate", "person")
CASH_CHANNEL = "cash"
CROSS_BORDER_CHANNEL = "crossborder"
MOVEMENTS_MAX = 5_000_000  # one monitoring run; more is split by the caller (e.g. per merchant)


def empty_movements() -> pl.DataFrame:
    return pl.DataFrame(schema=MOVEMENTS)


def movements_frame(rows: list[dict]) -> pl.DataFrame:
    """A checked frame from row dicts (account_type defaults to corporate)."""
    rows = [{**{name: row.get(name) for name in MOVEMENTS}, "account_type": row.get("account_type") or "corporate"}
            for row in rows]
    frame = pl.DataFrame(rows, schema=MOVEMENTS) if rows else empty_movements()
    return check_movements(frame)


def check_movements(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in MOVEMENTS' schema, or AmlError(code="invalid_movements") naming the first bad row."""
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise AmlError("invalid_movements", f"missing columns: {', '.join(missing)}")
    if frame.height > MOVEMENTS_MAX:
        raise AmlError("invalid_movements", f"{frame.height} movements in one run; at most {MOVEMENTS_MAX}")
    if "account_type" not in frame.columns:
        frame = frame.with_columns(account_type=pl.lit("corporate"))
    try:
        frame = frame.select([pl.col(name).cast(dtype) for name, dtype in MOVEMENTS.items()])
    except pl.exceptions.PolarsError as error:
        raise AmlError("invalid_movements", f"a column is not of its type: {error}") from None
    frame = frame.with_columns(pl.col("account_type").fill_null("corporate"))
    problems = [
        (pl.any_horizontal(pl.col(name).is_null() for name in MOVEMENTS), "an empty cell"),
        (~pl.col("direction").is_in(DIRECTIONS), "direction is not in or out"),
        (pl.col("amount_minor") <= 0, "amount_minor is not positive"),
        (~pl.col("account_type").is_in(ACCOUNT_TYPES), "account_type is not corporate or person"),
        (pl.col("movement_id").is_duplicated(), "movement_id is not unique"),
    ]
    for condition, message in problems:
        bad = frame.with_row_index("row").filter(condition)
        if bad.height:
            raise AmlError("invalid_movements", f"row {bad['row'][0] + 1}: {message}")
    for currency in frame["currency"].unique().to_list():
        try:
            check_currency(currency)
        except MoneyError as error:
            raise AmlError("invalid_movements", str(error)) from None
    return frame


def read_movements_csv(path: Path) -> pl.DataFrame:
    """Movements from a CSV with a header naming the columns above; errors cite the file line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise AmlError("invalid_movements", f"cannot read movements: {error}", path=str(path)) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
    if missing:
        raise AmlError("invalid_movements", f"missing columns: {', '.join(missing)}", path=str(path), line=1)
    rows, seen = [], set()
    for row in reader:
        if len(rows) >= MOVEMENTS_MAX:
            raise AmlError("invalid_movements", f"more than {MOVEMENTS_MAX} movements", path=str(path))
        parsed = _parsed(row, path, reader.line_num)
        if parsed["movement_id"] in seen:
            raise AmlError("invalid_movements", f"movement_id {parsed['movement_id']!r} appears twice",
                           path=str(path), line=reader.line_num)
        seen.add(parsed["movement_id"])
        rows.append(parsed)
    return movements_frame(rows)


def _parsed(row: dict, path: Path, line: int) -> dict:
    if None in row or any(value is None for value in row.values()):
        raise AmlError("invalid_movements", "the row does not have the header's number of cells", path=str(path), line=line)
    cells = {key: value.strip() for key, value in row.items()}
    for name in REQUIRED:
        if not cells.get(name):
            raise AmlError("invalid_movements", f"{name} is empty", path=str(path), line=line)
    amount = cells["amount_minor"]
    if not amount.isdigit() or int(amount) == 0:
        raise AmlError("invalid_movements", f"amount_minor {amount!r} is not a positive whole number of minor units",
                       path=str(path), line=line)
    try:
        check_currency(cells["currency"])
    except MoneyError as error:
        raise AmlError("invalid_movements", str(error), path=str(path), line=line) from None
    return {**{name: cells.get(name) for name in MOVEMENTS}, "amount_minor": int(amount),
            "occurred_at": _utc(cells["occurred_at"], path, line),
            "direction": _one_of(cells["direction"], DIRECTIONS, "direction", path, line),
            "account_type": _one_of(cells.get("account_type") or "corporate", ACCOUNT_TYPES, "account_type", path, line)}


def _utc(text: str, path: Path, line: int) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AmlError("invalid_movements", f"occurred_at {text!r} is not an ISO 8601 time", path=str(path), line=line) from None
    if moment.tzinfo is None:
        # A time without an offset is ambiguous across Beijing and UTC days; refuse to guess.
        raise AmlError("invalid_movements", f"occurred_at {text!r} has no UTC offset", path=str(path), line=line)
    return moment.astimezone(timezone.utc)


def _one_of(value: str, allowed: tuple[str, ...], name: str, path: Path, line: int) -> str:
    if value not in allowed:
        raise AmlError("invalid_movements", f"{name} {value!r} is not one of {', '.join(allowed)}", path=str(path), line=line)
    return value


def write_movements_csv(frame: pl.DataFrame, path: Path) -> None:
    frame = check_movements(frame)
    path.write_text(movements_csv_text(frame), encoding="utf-8")


def movements_csv_text(frame: pl.DataFrame) -> str:
    return frame.with_columns(
        pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00"),
    ).write_csv()
