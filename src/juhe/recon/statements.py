"""Channel statement files to the STATEMENT frame, whole or not at all.

`detect_format` tells the four files apart by their first bytes; `parse_statement` reads one
through its channel's parser (formats/) and returns the normalised frame; `read_statement` also
gives the warnings: findings about a file that is still read whole (a bank statement whose lines
do not add up to its closing balance: `balance_mismatch`). A file that cannot be read whole (cut
off, broken, an amount that is no amount) raises StatementError naming the line and the reason,
and gives no frame: reconciling part of a day would report every missing line as a discrepancy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable
from zoneinfo import ZoneInfo

import polars as pl

from juhe.channels.alipay import wire as alipay
from juhe.channels.bank import camt053, swift_mt940
from juhe.channels.base import StatementLine
from juhe.channels.wechatpay import wire as wechatpay
from juhe.recon import frames
from juhe.recon.formats.bank import camt053_rows, crossborder_rows, mt940_rows
from juhe.recon.formats.rows import Row, StatementWarning, line_row
from juhe.recon.formats.wallets import alipay_rows, wechatpay_rows

STATEMENT_BYTES_MAX = 64 * 1024 * 1024  # a day of a busy merchant's bill is a few MB
BANK_ZONE = ZoneInfo("Asia/Shanghai")  # the zone of dates without a time (bank booking dates)
FORMATS = ("alipay", "wechatpay", "camt053", "mt940")
CODES = ("malformed_statement", "truncated_statement", "unknown_format", "unsupported_version")
KINDS, DIRECTIONS = ("payment", "refund", "unknown"), ("credit", "debit")
STATUSES = ("succeeded", "refunded", "failed", "pending", "reversed")

Reader = Callable[[bytes, str, ZoneInfo], tuple[list[Row], list[StatementWarning]]]
# (channel, format) → reader; the first channel listed for a format is its default
READERS: dict[tuple[str, str], Reader] = {
    ("alipay", "alipay"): alipay_rows,
    ("wechatpay", "wechatpay"): wechatpay_rows,
    ("bank", "camt053"): camt053_rows,
    ("bank", "mt940"): mt940_rows,
    ("crossborder", "camt053"): crossborder_rows,
}
DETECTORS: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("alipay", alipay.is_bill), ("wechatpay", wechatpay.is_bill),
    ("camt053", camt053.is_statement), ("mt940", swift_mt940.is_statement),
)  # fmt: skip


class StatementError(ValueError):
    """A statement file that gives no frame. `code`: malformed_statement, truncated_statement,
    unknown_format or unsupported_version; `line`: where in the file (None when it has no place,
    e.g. a zip without its directory; the entry ordinal's line for camt.053)."""

    def __init__(self, code: str, message: str, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.code, self.message, self.line = code, message, line


@dataclass(frozen=True)
class ReadStatement:
    frame: pl.DataFrame
    warnings: list[StatementWarning] = field(default_factory=list)


def detect_format(raw: bytes) -> str:
    """alipay, wechatpay, camt053 or mt940, from the file's first bytes; StatementError otherwise."""
    found = next((name for name, looks_like in DETECTORS if looks_like(raw)), None)
    if found is None:
        raise StatementError("unknown_format", "not an Alipay or WeChat Pay trade bill, camt.053 or MT940", 1)
    return found


def parse_statement(
    raw: bytes, fmt: str | None = None, channel: str | None = None, *, zone: ZoneInfo = BANK_ZONE
) -> pl.DataFrame:
    """The file as the STATEMENT frame (read_statement without its warnings)."""
    return read_statement(raw, fmt, channel, zone=zone).frame


def read_statement(
    raw: bytes, fmt: str | None = None, channel: str | None = None, *, zone: ZoneInfo = BANK_ZONE
) -> ReadStatement:
    """The file as the STATEMENT frame, with its warnings. `fmt` is detected when not given;
    `channel` defaults to the format's (bank for camt053 and MT940; crossborder reads the
    correspondent's camt.053). An empty file of a known format or channel is a day without
    movement (WeChat Pay and the correspondent send nothing then): an empty frame."""
    if len(raw) > STATEMENT_BYTES_MAX:
        raise StatementError("malformed_statement", f"{len(raw)} bytes; a statement has at most {STATEMENT_BYTES_MAX}")
    if not raw.strip() and (fmt or channel):
        _reader(fmt or _format_of(channel), channel)
        return ReadStatement(frames.empty(frames.STATEMENT))
    fmt = fmt or detect_format(raw)
    channel, reader = _reader(fmt, channel)
    try:
        rows, warnings = reader(raw, channel, zone)
    except ValueError as e:  # every channel parser's failure is one: MessageError, BillError, MoneyError
        code = getattr(e, "code", None)
        code = code if code in CODES else "malformed_statement"
        raise StatementError(code, str(e), getattr(e, "line", None)) from None
    frame = frames.conform(pl.DataFrame(rows, schema=frames.STATEMENT), frames.STATEMENT)
    _check(frame)
    return ReadStatement(frame, warnings)


def _reader(fmt: str, channel: str | None) -> tuple[str, Reader]:
    if fmt not in FORMATS:
        raise StatementError("unknown_format", f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    channel = channel or next(c for c, f in READERS if f == fmt)
    if (channel, fmt) not in READERS:
        raise StatementError("unknown_format", f"channel {channel!r} sends no {fmt} statements")
    return channel, READERS[channel, fmt]


def has_reader(channel: str) -> bool:
    """Whether one of the common formats is read for this channel (else its adapter parses it)."""
    return any(c == channel for c, _ in READERS)


def _format_of(channel: str | None) -> str:
    found = next((f for c, f in READERS if c == channel), None)
    if found is None:
        raise StatementError("unknown_format", f"no statement format is read for channel {channel!r}")
    return found


def _check(frame: pl.DataFrame) -> None:
    """What every row must be, whichever parser made it (paired with the parsers' own checks)."""
    wrong = frame.filter(
        pl.col("amount_minor").is_null() | (pl.col("amount_minor") < 0) | pl.col("fee_minor").is_null()
        | ~pl.col("kind").is_in(KINDS) | ~pl.col("direction").is_in(DIRECTIONS)
        | ~pl.col("status").is_in(STATUSES) | pl.col("occurred_at").is_null() | pl.col("currency").is_null()
        | pl.col("line_no").is_null()
        | pl.col("kind").is_null() | pl.col("direction").is_null() | pl.col("status").is_null()
    )  # fmt: skip
    if wrong.height:
        row = wrong.row(0, named=True)
        raise StatementError("malformed_statement", f"a line the statement frame cannot hold: {row}", row["line_no"])


def statement_totals(frame: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per currency, the amounts of all the file's credit lines and debit lines (whatever their status)."""
    sums = (
        frame.group_by("currency")
        .agg(
            credit_minor=pl.col("amount_minor").filter(pl.col("direction") == "credit").sum(),
            debit_minor=pl.col("amount_minor").filter(pl.col("direction") == "debit").sum(),
        )
        .sort("currency")
    )
    return {row["currency"]: {"credit_minor": row["credit_minor"], "debit_minor": row["debit_minor"]}
            for row in sums.iter_rows(named=True)}  # fmt: skip


# The words channels with a statement format of their own (face pay, the card acquirer, UnionPay)
# put in a line's status, in the statement's vocabulary.
LINE_STATES = {"SUCCESS": "succeeded", "SETTLED": "succeeded", "succeeded": "succeeded", "REVOKED": "reversed",
               "REVERSED": "reversed", "PAYERROR": "failed", "CLOSED": "failed", "failed": "failed",
               "PROCESSING": "pending"}


def lines_frame(lines: list[StatementLine], channel: str, *, zone: ZoneInfo = BANK_ZONE) -> pl.DataFrame:
    """A channel adapter's own parse (Channel.parse_statement) as the STATEMENT frame; lines are numbered
    from 1, as the adapter gives no line numbers of its file."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if line.status not in LINE_STATES:
            raise StatementError("malformed_statement", f"status {line.status!r} is not one reconciliation knows", number)
        direction = "credit" if line.kind == "payment" else "debit"
        rows.append(line_row(number, line, channel, direction=direction, status=LINE_STATES[line.status], zone=zone))
    frame = frames.conform(pl.DataFrame(rows, schema=frames.STATEMENT), frames.STATEMENT) if rows else frames.empty(frames.STATEMENT)
    _check(frame)
    return frame
