"""SWIFT MT940 (customer statement message), read with the `mt-940` package.

MT940 predates ISO 20022 and many banks (Chinese banks' international branches among them)
still send it. Its :61: line holds only 16 characters of our reference, so banks repeat the
full EndToEndId in the :86: narrative as `/EREF/…` (the SEPA-era convention we read and write).
Text is the SWIFT 'x' character set: the sandbox drops what it cannot carry (Chinese names).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Sequence

import mt940

from juhe.channels.bank.camt053 import Account, BookedTransfer
from juhe.channels.bank.statement import BankEntry, BankStatement, signed_minor
from juhe.channels.bank.wire import MessageError
from juhe.money import Money, MoneyError

NARRATIVE_LINE_MAX, NARRATIVE_LINES_MAX = 65, 6
REFERENCE_MAX = 16
_FIELD = re.compile(r"/(EREF|NAME|REMI|IBAN|ACCT)/(.*?)(?=/(?:EREF|NAME|REMI|IBAN|ACCT)/|$)", re.S)
_NOT_X = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")
MARKS = {"D": ("debit", False), "C": ("credit", False), "RD": ("credit", True), "RC": ("debit", True)}


def parse(raw: bytes) -> list[BankStatement]:
    try:
        blocks = mt940.parse_statements(raw)
    except (ValueError, KeyError) as e:
        raise MessageError(f"MT940: {e}") from None
    statements = [_statement(block) for block in blocks if block.data.get("transaction_reference")]
    if not statements:
        raise MessageError("not an MT940 statement (no :20: field)")
    return statements


def _statement(block: mt940.models.Transactions) -> BankStatement:
    data = block.data
    opening, closing = data.get("final_opening_balance"), data.get("final_closing_balance")
    currency = (opening or closing).amount.currency if (opening or closing) else ""
    try:
        entries = [_entry(t.data, currency) for t in block]
        return BankStatement(
            statement_id=data["transaction_reference"], account=data.get("account_identification", ""),
            currency=currency, opening_balance=_balance(opening), closing_balance=_balance(closing), entries=entries,
        )  # fmt: skip
    except MoneyError as e:
        raise MessageError(f"MT940: {e}") from None


def _entry(data: dict, currency: str) -> BankEntry:
    direction, reversal = MARKS[data["status"].upper()]
    narrative = dict(_FIELD.findall(data.get("transaction_details", "").replace("\n", "")))
    reference = narrative.get("EREF") or data.get("customer_reference") or None
    value_date = _date(data["date"])
    entry_date = data.get("entry_date") or data.get("guessed_entry_date")
    return BankEntry(
        booking_date=_date(entry_date) if entry_date else value_date, value_date=value_date,
        amount=Money.parse(str(abs(data["amount"].amount)), data.get("currency") or currency),
        direction=direction, status="BOOK", reversal=reversal,
        end_to_end_id=None if reference == "NONREF" else reference, bank_ref=data.get("bank_reference") or None,
        counterparty_name=narrative.get("NAME"), counterparty_account=narrative.get("IBAN") or narrative.get("ACCT"),
        remittance_info=narrative.get("REMI", ""),
    )  # fmt: skip


def _balance(balance) -> Money | None:
    if balance is None:
        return None
    amount = Money.parse(str(abs(balance.amount.amount)), balance.amount.currency)
    return -amount if balance.status == "D" else amount


def _date(found) -> date:
    return date(found.year, found.month, found.day)


# --- the bank's side


def write(
    reference: str, account: Account, day: date, sequence: int, opening_minor: int, booked: Sequence[BookedTransfer]
) -> bytes:
    closing_minor = opening_minor + sum(signed_minor(b.entry) for b in booked)
    lines = [
        f":20:{reference[:REFERENCE_MAX]}", f":25:{account.servicer_bank}/{account.number}",
        f":28C:{sequence}/1", f":60F:{_balance_text(opening_minor, account.currency, day)}",
    ]  # fmt: skip
    for transfer in booked:
        lines += _statement_line(transfer.entry)
    lines += [f":62F:{_balance_text(closing_minor, account.currency, day)}", "-"]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _statement_line(entry: BankEntry) -> list[str]:
    mark = {("debit", False): "D", ("credit", False): "C", ("credit", True): "RD", ("debit", True): "RC"}
    reference = (entry.end_to_end_id or "NONREF")[:REFERENCE_MAX]
    line = (
        f":61:{entry.value_date or entry.booking_date:%y%m%d}{entry.booking_date:%m%d}"
        f"{mark[entry.direction, entry.reversal]}{_amount_text(entry.amount)}NTRF{reference}"
        f"//{(entry.bank_ref or '')[:REFERENCE_MAX]}"
    )
    return [line, *_narrative(entry)]


def _narrative(entry: BankEntry) -> list[str]:
    fields = [("EREF", entry.end_to_end_id), ("NAME", entry.counterparty_name), ("ACCT", entry.counterparty_account),
              ("REMI", entry.remittance_info)]  # fmt: skip
    text = "".join(f"/{key}/{x_text(value).strip()}" for key, value in fields if value and x_text(value).strip())
    chunks = [text[i : i + NARRATIVE_LINE_MAX] for i in range(0, len(text), NARRATIVE_LINE_MAX)][:NARRATIVE_LINES_MAX]
    return [f":86:{chunks[0]}", *chunks[1:]] if chunks else []


def x_text(value: str) -> str:
    """What the SWIFT 'x' character set can carry of a text."""
    return _NOT_X.sub("", value)


def _amount_text(amount: Money) -> str:
    return amount.decimal_text().lstrip("-").replace(".", ",") + ("" if "." in amount.decimal_text() else ",")


def _balance_text(minor: int, currency: str, day: date) -> str:
    mark = "D" if minor < 0 else "C"
    return f"{mark}{day:%y%m%d}{currency}{_amount_text(Money(abs(minor), currency))}"
