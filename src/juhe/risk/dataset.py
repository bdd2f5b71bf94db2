"""Labelled payment history: the frame and CSV that training, evaluation and rule dry-runs read.

CSV columns (header required, any order, extra columns ignored; `juhe risk generate --out`
writes such a file):

    kind               payment | password_reset (an account event that feeds the features)
    payment_id         unique id of the payment (payment rows)
    occurred_at        ISO 8601 with a UTC offset, e.g. 2026-03-09T12:34:56Z or …+08:00
    payer_id           the paying account (both kinds)
    merchant_id        the merchant paid
    merchant_category  grocery, restaurant, coffee, transport, utilities, clothing, electronics,
                       digital_goods, travel, jewelry, wholesale, p2p_transfer, healthcare,
                       entertainment (others are accepted and coded "unknown" for the model)
    amount_minor       positive integer, minor units of `currency`
    currency           ISO 4217 code
    card_id            card / account fingerprint
    device_id          device fingerprint
    ip                 IPv4 address (geolocated with risk.geo's directory)
    latitude, longitude  the device's location, both or neither (blank)
    is_fraud           label: 1/0 or true/false (payment rows)
    fraud_type         stolen_card | cash_out | account_takeover (juhe risk generate), large_amount |
                       compromised_terminal | compromised_card (juhe risk simulate) | blank for legit
    terminal_id        optional: the card terminal or QR code paid at (blank or absent: none)
    store_id           optional: the merchant's store

Columns other than kind, payment_id, occurred_at, payer_id are required on payment rows only;
terminal_id and store_id may be left out of the file.
Rows are processed in `occurred_at` order (stable for equal times).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from juhe.money import MoneyError, check_currency
from juhe.risk.facts import RiskError

UTC_TIME = pl.Datetime("us", "UTC")
HISTORY = {
    "kind": pl.String,
    "payment_id": pl.String,
    "occurred_at": UTC_TIME,
    "payer_id": pl.String,
    "merchant_id": pl.String,
    "merchant_category": pl.String,
    "amount_minor": pl.Int64,
    "currency": pl.String,
    "card_id": pl.String,
    "device_id": pl.String,
    "ip": pl.String,
    "latitude": pl.Float64,
    "longitude": pl.Float64,
    "is_fraud": pl.Boolean,
    "fraud_type": pl.String,
    "terminal_id": pl.String,
    "store_id": pl.String,
}
OPTIONAL = ("terminal_id", "store_id")
KINDS = ("payment", "password_reset")
ALWAYS_REQUIRED = ("kind", "occurred_at", "payer_id")
PAYMENT_REQUIRED = ("payment_id", "merchant_id", "merchant_category", "amount_minor", "currency", "card_id",
                    "device_id", "ip", "is_fraud")
ROWS_MAX = 20_000_000
PROBLEMS_SHOWN = 5


def payment_row(payer_id: str, merchant_id: str, category: str, amount_minor: int, at: datetime, card: str, device: str,
                ip: str, lat: float | None, lon: float | None, fraud_type: str | None = None) -> dict:
    return {"kind": "payment", "payment_id": None, "occurred_at": at, "payer_id": payer_id, "merchant_id": merchant_id,
            "merchant_category": category, "amount_minor": amount_minor, "currency": "CNY", "card_id": card,
            "device_id": device, "ip": ip, "latitude": lat, "longitude": lon,
            "is_fraud": fraud_type is not None, "fraud_type": fraud_type, "terminal_id": None, "store_id": None}


def reset_row(payer_id: str, at: datetime, fraud_type: str | None = None) -> dict:
    return {"kind": "password_reset", "payment_id": None, "occurred_at": at, "payer_id": payer_id, "merchant_id": None,
            "merchant_category": None, "amount_minor": None, "currency": None, "card_id": None, "device_id": None,
            "ip": None, "latitude": None, "longitude": None, "is_fraud": fraud_type is not None, "fraud_type": fraud_type,
            "terminal_id": None, "store_id": None}


def write_history(frame: pl.DataFrame, path: Path) -> None:
    frame.select(list(HISTORY)).write_csv(path)


def read_history(path: Path) -> pl.DataFrame:
    """The CSV as a HISTORY frame in time order; RiskError(code=bad_history) says what is wrong and where."""
    try:
        raw = pl.read_csv(path, infer_schema=False, n_rows=ROWS_MAX + 1)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise RiskError("bad_history", f"{path}: cannot read as CSV: {error}") from None
    if raw.height > ROWS_MAX:
        raise RiskError("bad_history", f"{path}: more than {ROWS_MAX:,} rows")
    raw = raw.with_columns(pl.lit(None, pl.String).alias(name) for name in OPTIONAL if name not in raw.columns)
    missing = [name for name in HISTORY if name not in raw.columns]
    if missing:
        raise RiskError("bad_history", f"{path}: missing columns {', '.join(missing)}")
    frame = _typed(raw)
    _check(frame, path)
    return frame.sort("occurred_at", maintain_order=True)


def _typed(raw: pl.DataFrame) -> pl.DataFrame:
    text = {name: pl.col(name).str.strip_chars().replace("", None) for name in HISTORY}
    flag = text["is_fraud"].str.to_lowercase()
    return raw.select(
        text["kind"].alias("kind"), text["payment_id"].alias("payment_id"),
        text["occurred_at"].str.to_datetime(time_unit="us", time_zone="UTC", strict=False).alias("occurred_at"),
        *[text[name].alias(name) for name in ("payer_id", "merchant_id", "merchant_category")],
        text["amount_minor"].cast(pl.Int64, strict=False).alias("amount_minor"),
        text["currency"].alias("currency"),
        *[text[name].alias(name) for name in ("card_id", "device_id", "ip")],
        text["latitude"].cast(pl.Float64, strict=False).alias("latitude"),
        text["longitude"].cast(pl.Float64, strict=False).alias("longitude"),
        pl.when(flag.is_in(["1", "true"])).then(True).when(flag.is_in(["0", "false"])).then(False)
        .otherwise(None).alias("is_fraud"),
        *[text[name].alias(name) for name in ("fraud_type", *OPTIONAL)],
    )


def _check(frame: pl.DataFrame, path: Path) -> None:
    """Every problem kind with its first few line numbers (line 2 is the first data row)."""
    is_payment = pl.col("kind") == "payment"
    problems = {
        "kind is not payment or password_reset": ~pl.col("kind").is_in(KINDS) | pl.col("kind").is_null(),
        "occurred_at is not an ISO 8601 time": pl.col("occurred_at").is_null(),
        "payer_id is empty": pl.col("payer_id").is_null(),
        "amount_minor is not a positive integer": is_payment & ~(pl.col("amount_minor") > 0).fill_null(False),
        "is_fraud is not 1/0/true/false": is_payment & pl.col("is_fraud").is_null(),
        "payment_id repeats an earlier row's": is_payment & pl.col("payment_id").is_not_null()
        & ~pl.col("payment_id").is_first_distinct(),
        "latitude/longitude: both or neither, within range": (
            pl.col("latitude").is_null() != pl.col("longitude").is_null())
        | ~pl.col("latitude").is_between(-90, 90).fill_null(True)
        | ~pl.col("longitude").is_between(-180, 180).fill_null(True),
    }
    for name in PAYMENT_REQUIRED:
        problems.setdefault(f"{name} is empty on a payment row", is_payment & pl.col(name).is_null())
    found = []
    flagged = frame.with_row_index("line", offset=2).select("line", **problems)
    for message in problems:
        lines = flagged.filter(pl.col(message))["line"].head(PROBLEMS_SHOWN).to_list()
        if lines:
            found.append(f"{message} (line {', '.join(map(str, lines))})")
    found += _bad_currencies(frame)
    if found:
        raise RiskError("bad_history", f"{path}: " + "; ".join(found))


def _bad_currencies(frame: pl.DataFrame) -> list[str]:
    bad = []
    for code in frame["currency"].drop_nulls().unique().to_list():
        try:
            check_currency(code)
        except MoneyError:
            bad.append(f"unknown currency {code!r}")
    return bad
