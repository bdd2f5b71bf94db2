"""The two frames reconciliation compares, whatever channel or file format they came from.

STATEMENT: one row per line of a channel statement (trade bill, camt.053 entry, MT940 :61:).
OURS: one row per payment or refund of ours on the business date (and items carried from
the day before). Amounts are positive integer minor units; `direction` says which way the
money moved from the merchant's point of view (a collected payment is a credit, a refund or
an outgoing transfer a debit).
"""

from __future__ import annotations

import polars as pl

UTC_TIME = pl.Datetime("us", "UTC")

STATEMENT = {
    "channel": pl.String,  # channel code: alipay, wechatpay, bank, ...
    "line_no": pl.Int64,  # line (or entry ordinal) in the source file, for reports
    "kind": pl.String,  # payment | refund | unknown (a bank line without our reference)
    "order_no": pl.String,  # our order number as the channel knows it (null when absent)
    "refund_no": pl.String,  # our refund number (refund lines only)
    "channel_txn_id": pl.String,  # the channel's trade number / bank reference
    "amount_minor": pl.Int64,
    "fee_minor": pl.Int64,
    "currency": pl.String,
    "direction": pl.String,  # credit | debit
    "status": pl.String,  # succeeded | refunded | failed | pending | reversed
    "occurred_at": UTC_TIME,
    "counterparty": pl.String,  # payer / creditor name or account when the file gives one
    "reference": pl.String,  # free text (remittance info, :86:) for matching without our number
}

OURS = {
    "channel": pl.String,
    "merchant_id": pl.String,
    "kind": pl.String,  # payment | refund | transfer
    "order_no": pl.String,  # what we sent the channel (payment attempt order_no / EndToEndId)
    "refund_no": pl.String,
    "payment_id": pl.String,  # our payment id (uuid text)
    "channel_txn_id": pl.String,  # null until the channel told us
    "amount_minor": pl.Int64,
    "fee_minor": pl.Int64,  # the channel fee we booked
    "currency": pl.String,
    "direction": pl.String,
    "status": pl.String,  # succeeded | refunded | failed | pending
    "occurred_at": UTC_TIME,
    "counterparty": pl.String,
}

CATEGORIES = (
    "matched",
    "missing_ours",  # the channel has it, we do not
    "missing_channel",  # we have it, the channel does not
    "amount_mismatch",
    "status_mismatch",
    "fee_mismatch",
    "cross_day",  # settles on the next business date: carried, reported once
)


def empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def conform(frame: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """The frame with exactly the schema's columns, in order and type (missing ones null)."""
    return frame.select([
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    ])
