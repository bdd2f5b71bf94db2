"""Rows of the STATEMENT frame from the channel-neutral types, and the one rule for times."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from juhe.channels.base import StatementLine

Row = dict[str, object]
StatementWarning = dict[str, object]  # a finding about the file that does not stop it being read: code, line, message, …


def utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A moment in UTC; a time without offset is the channel's local time in `zone`."""
    local = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    return local.astimezone(timezone.utc)


def line_row(number: int, line: StatementLine, channel: str, *, direction: str, status: str, zone: ZoneInfo) -> Row:
    """A payment or refund line that names our order (wallet bills, the cross-border rail)."""
    return {
        "channel": channel, "line_no": number, "kind": line.kind, "order_no": line.payment_id or None,
        "refund_no": line.refund_id if line.kind == "refund" else None,
        "channel_txn_id": line.channel_txn_id or None, "amount_minor": line.amount.amount_minor,
        "fee_minor": abs(line.fee.amount_minor), "currency": line.amount.currency, "direction": direction,  # a refund gives fee back: its line direction says so
        "status": status, "occurred_at": utc(line.occurred_at, zone), "counterparty": None, "reference": None,
    }  # fmt: skip
