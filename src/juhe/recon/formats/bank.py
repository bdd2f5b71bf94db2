"""Bank statements: camt.053 (.001.02 to .08) and MT940 from the corporate bank, camt.053 from
the cross-border correspondent.

A bank line is ours when it is a debit we sent with our EndToEndId (a payment) or the return
of one (a refund). Every other line (money received, bank charges, interest, a debit someone
else initiated) is kept as kind "unknown", with its counterparty and free text, so that
matching can still place it by amount, name and remittance text.

A statement whose lines do not add up to its closing balance is read whole and reported as a
`balance_mismatch` warning with both figures: reconciliation raises a case for it.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from juhe.channels.bank import camt053, swift_mt940
from juhe.channels.bank.statement import BalanceMismatch, BankEntry, BankStatement, StatementFileError, balance_mismatches
from juhe.channels.crossborder import camt053 as crossborder_camt053
from juhe.channels.crossborder import wire as crossborder
from juhe.recon.formats.rows import Row, StatementWarning, line_row, utc

# ISO 20022 entry status → the statement's vocabulary
ENTRY_STATES = {"BOOK": "succeeded", "PDNG": "pending", "INFO": "pending", "FUTR": "pending"}


def camt053_rows(raw: bytes, channel: str, zone: ZoneInfo) -> tuple[list[Row], list[StatementWarning]]:
    return _rows(camt053.parse(raw), channel, zone)


def mt940_rows(raw: bytes, channel: str, zone: ZoneInfo) -> tuple[list[Row], list[StatementWarning]]:
    return _rows(swift_mt940.parse(raw), channel, zone)


def crossborder_rows(raw: bytes, channel: str, zone: ZoneInfo) -> tuple[list[Row], list[StatementWarning]]:
    """The correspondent's statement: payments out are debits, returns credits; times are given."""
    camt053.read_document(raw)  # a cut or foreign document is refused with its line, before the rail reads it
    rows = []
    for number, entry in enumerate(crossborder_camt053.read(raw), 1):
        line = crossborder.statement_line(entry)
        status = _state(line.status, number)
        direction = "debit" if line.kind == "payment" else "credit"
        rows.append(line_row(number, line, channel, direction=direction, status=status, zone=zone))
    return rows, []


def _rows(statements: list[BankStatement], channel: str, zone: ZoneInfo) -> tuple[list[Row], list[StatementWarning]]:
    rows = [_entry_row(entry, channel, zone) for statement in statements for entry in statement.entries]
    return rows, [_mismatch_warning(m) for m in balance_mismatches(statements)]


def _mismatch_warning(mismatch: BalanceMismatch) -> StatementWarning:
    return {
        "code": "balance_mismatch", "line": mismatch.line, "message": mismatch.message(),
        "statement_id": mismatch.statement_id, "account": mismatch.account, "currency": mismatch.closing.currency,
        "opening_minor": mismatch.opening.amount_minor, "closing_minor": mismatch.closing.amount_minor,
        "computed_closing_minor": mismatch.computed_closing.amount_minor,
        "difference_minor": mismatch.difference.amount_minor,
    }  # fmt: skip


def _entry_row(entry: BankEntry, channel: str, zone: ZoneInfo) -> Row:
    ours = (entry.direction == "debit") != entry.reversal and entry.end_to_end_id is not None
    kind = ("refund" if entry.reversal else "payment") if ours else "unknown"
    # Someone else's EndToEndId (a payer's, on money received) is free text to match on, not our order.
    theirs = [entry.end_to_end_id] if entry.end_to_end_id and not ours else []
    reference = " ".join(text for text in (entry.remittance_info, *theirs) if text)
    booked_at = entry.booked_at or datetime.combine(entry.booking_date, time())
    return {
        "channel": channel, "line_no": entry.position, "kind": kind,
        "order_no": entry.end_to_end_id if ours else None,
        "refund_no": (entry.bank_ref or entry.end_to_end_id) if kind == "refund" else None,
        "channel_txn_id": entry.bank_ref, "amount_minor": entry.amount.amount_minor, "fee_minor": 0,
        "currency": entry.amount.currency, "direction": entry.direction,
        "status": "reversed" if entry.reversal else _state(entry.status, entry.position),
        "occurred_at": utc(booked_at, zone),
        "counterparty": entry.counterparty_name or entry.counterparty_account, "reference": reference or None,
    }  # fmt: skip


def _state(code: str, ordinal: int | None) -> str:
    if code not in ENTRY_STATES:
        raise StatementFileError(f"entry {ordinal}: status {code!r} is none of {', '.join(ENTRY_STATES)}")
    return ENTRY_STATES[code]
