"""SWIFT MT940 (customer statement message): reading it as banks write it, and writing it.

MT940 predates ISO 20022 and many banks (Chinese banks' international branches among them)
still send it. Its :61: line holds only 16 characters of our reference, so banks repeat the
full EndToEndId in the :86: narrative as `/EREF/…` (the SEPA-era convention we read and write).
Text is the SWIFT 'x' character set: the sandbox drops what it cannot carry (Chinese names).

What varies between banks, and is read here (tests/recon/data/mt940 holds one file per bank
style): a SWIFT envelope (`{1:…}{2:…}{3:…}{4:` … `-}{5:…}`) around each message, or a bank's
own preamble (`:940:`, `ABNANL2A`/`940`) and trailers; statements separated by `-`, by the
envelope, or by nothing; several statements (and currencies) in one file; a statement paged
over messages with intermediate balances :60M:/:62M:; `:28:` or `:28C:`; amounts `500`,
`500,`, `500,5` or zero-padded; the funds code letter after the D/C mark (`CR`, `DN`);
reversals `RC` (a credit taken back: money out) and `RD` (a debit returned: money in); the
:61: with or without its entry date, which may fall in the next year; the :86: narrative
(mt940_narrative); :NS:, :64:, :65: and a statement-level :86: after the closing balance.

A statement whose lines do not add up to its closing balance is read: that is a finding for
reconciliation (statement.balance_mismatches), not a reason to lose the day. A file that cannot
be read whole (no :20:, cut off, a field that is no field) is refused, naming its line.

We read it ourselves instead of with the mt-940 package: reconciliation needs the line of every
:61: and must refuse a statement cut short, and mt-940 gives no line numbers, accepts a
statement without its closing balance :62F:, and fails on a bad field with RuntimeError or
decimal.InvalidOperation after logging the whole pattern (measured on the corpus: README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Sequence

from juhe.channels.bank.camt053 import Account, BookedTransfer
from juhe.channels.bank.mt940_narrative import NOT_PROVIDED, read_narrative
from juhe.channels.bank.statement import BankEntry, BankStatement, StatementFileError, signed_minor
from juhe.money import Money

NARRATIVE_LINE_MAX, NARRATIVE_LINES_MAX = 65, 6
REFERENCE_MAX = 16
HEAD_BYTES = 2048  # where the first :20: is, after any preamble
MARKS = {"D": ("debit", False), "C": ("credit", False), "RD": ("credit", True), "RC": ("debit", True)}
# A customer reference that is no reference: the bank says 'none' or 'see the :86:' (Rabobank's EREF).
NO_REFERENCE = (*NOT_PROVIDED, "EREF", "MARF", "PREF")
_NOT_X = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")
_TAG = re.compile(r":(\d{2}[A-Z]?|NS):")
# Each message's envelope: {1:…}{2:…}{3:{108:…}} then {4: opens the text block.
_ENVELOPE = re.compile(r"^(?:\{[1-3]:(?:[^{}]|\{[^{}]*\})*\})*\{4:")
_MESSAGE_END = ("-}", "{5:")
_FIRST_FIELD = re.compile(rb"(?m)^(?:\{4:)?:20:")
_BALANCE = re.compile(r"(?P<mark>[CD])(?P<day>\d{6})(?P<currency>[A-Z]{3})(?P<amount>[\d,]{1,17})")
# 6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]; references up to 35 characters, as some banks write them;
# a type code of three characters and a space (Triodos' 'NET ').
_STATEMENT_LINE = re.compile(
    r"(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?(?P<amount>[\d,]{1,15})"
    r"(?P<type>[NSF][A-Z0-9]{2}[A-Z0-9 ])(?P<customer>[^\n]{0,35}?)(?://(?P<bank>[^\n]{0,35}))?"
)
_AMOUNT = re.compile(r"(\d{1,15})(?:,(\d*))?")


@dataclass(slots=True)
class _Field:
    tag: str  # 20, 25, 60F, 61, 86, …
    line: int  # where the field starts in the file
    text: str
    last_line: int  # where it ends (a :86: runs over several lines)


@dataclass(slots=True)
class _Block:
    fields: list[_Field] = field(default_factory=list)

    def first(self, *tags: str) -> _Field | None:
        return next((f for f in self.fields if f.tag in tags), None)


def is_statement(raw: bytes) -> bool:
    """Whether the bytes look like MT940: a :20: field (maybe after an envelope or a bank's
    preamble) and an account :25: in the first kilobytes."""
    head = raw[:HEAD_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b":20:", b"{1:")):
        return True
    return _FIRST_FIELD.search(head) is not None and b":25:" in head


def parse(raw: bytes) -> list[BankStatement]:
    """Every statement in the file, or StatementFileError naming the line: nothing from a partial file."""
    blocks = _blocks(_text(raw))
    if not blocks:
        raise StatementFileError("not an MT940 statement (no :20: field)", line=1)
    for number, block in enumerate(blocks):
        _check_complete(block, last=number == len(blocks) - 1)
    return [_statement(block) for block in blocks]


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # European banks' 'extended' MT940; every byte is a character


def _blocks(text: str) -> list[_Block]:
    """The fields of each statement (from one :20: to the next), each with its first line. Text
    outside any statement (envelopes, a bank's preamble and trailers) is not part of it; a field
    there is: a statement that lost its :20:."""
    blocks: list[_Block] = []
    current: _Field | None = None
    in_statement = False
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = _ENVELOPE.sub("", raw_line)
        if line != raw_line or line.startswith(_MESSAGE_END) or line.strip() == "-":
            current, in_statement = None, False  # a message or statement begins or ends here
        if not line.strip() or line.startswith(_MESSAGE_END) or line.strip() == "-":
            continue
        tag = _TAG.match(line)
        if tag is None:
            if current is not None:
                current.text += "\n" + line.rstrip()
                current.last_line = number
            continue
        current = _Field(tag.group(1), number, line[tag.end() :].rstrip(), number)
        if current.tag == "20":
            blocks.append(_Block())
            in_statement = True
        elif not in_statement:
            where = "before the first :20:" if not blocks else "outside any statement (no :20: before it)"
            raise StatementFileError(f":{current.tag}: {where}", line=number)
        blocks[-1].fields.append(current)
    return blocks


def _check_complete(block: _Block, last: bool) -> None:
    start = block.fields[0].line
    opening, closing = block.first("60F", "60M"), block.first("62F", "62M")
    if closing is None:
        # A file that ends without the closing balance was cut off; in the middle of a file it is malformed.
        code = "truncated_statement" if last else "malformed_statement"
        raise StatementFileError(f"the statement of line {start} has no closing balance :62F:",
                                 line=block.fields[-1].last_line, code=code)  # fmt: skip
    if block.first("25") is None or opening is None:
        raise StatementFileError(f"the statement of line {start} lacks its account :25: or opening balance :60F:",
                                 line=start)  # fmt: skip
    outside = next((f for f in block.fields if f.tag == "61" and not opening.line < f.line < closing.line), None)
    if outside is not None:
        raise StatementFileError(":61: outside the opening and closing balances", line=outside.line)


def _statement(block: _Block) -> BankStatement:
    opening_field, closing_field = block.first("60F", "60M"), block.first("62F", "62M")
    opening, closing = _balance(opening_field), _balance(closing_field)
    if opening.currency != closing.currency:
        raise StatementFileError(f"closing balance in {closing.currency}, opening in {opening.currency}",
                                 line=closing_field.line)  # fmt: skip
    account = block.first("25")
    return BankStatement(
        statement_id=block.fields[0].text.strip(), account=account.text.strip() if account else "",
        currency=opening.currency, opening_balance=opening, closing_balance=closing,
        entries=_entries(block.fields, opening.currency), closing_position=closing_field.line,
    )  # fmt: skip


def _entries(fields: list[_Field], currency: str) -> list[BankEntry]:
    entries: list[BankEntry] = []
    for number, found in enumerate(fields):
        if found.tag != "61":
            continue
        following = fields[number + 1] if number + 1 < len(fields) else None
        narrative = following.text if following is not None and following.tag == "86" else ""
        try:
            entries.append(_entry(found, narrative, currency))
        except ValueError as e:
            raise StatementFileError(f":61: {e}", line=found.line) from None
    return entries


def _entry(found: _Field, narrative_text: str, currency: str) -> BankEntry:
    first, _, _supplementary = found.text.partition("\n")
    parts = _STATEMENT_LINE.fullmatch(first.strip())
    if parts is None:
        raise ValueError(f"not a statement line: {first[:40]!r}")
    direction, reversal = MARKS[parts["mark"]]
    value_date = _date(parts["value"])
    booking_date = _entry_date(value_date, parts["entry"]) if parts["entry"] else value_date
    narrative = read_narrative(narrative_text)
    customer = parts["customer"].strip()
    reference = narrative.end_to_end_id or (customer if customer not in NO_REFERENCE else None)
    return BankEntry(
        booking_date=booking_date, value_date=value_date, amount=_amount(parts["amount"], currency),
        direction=direction, status="BOOK", reversal=reversal, end_to_end_id=reference or None,
        bank_ref=(parts["bank"] or "").strip() or None, counterparty_name=narrative.name,
        counterparty_account=narrative.account, remittance_info=narrative.remittance, position=found.line,
    )  # fmt: skip


def _balance(found: _Field) -> Money:
    parts = _BALANCE.fullmatch(found.text.strip())
    try:
        if parts is None:
            raise ValueError(f"not a balance: {found.text[:40]!r}")
        _date(parts["day"])
        amount = _amount(parts["amount"], parts["currency"])
    except ValueError as e:
        raise StatementFileError(f":{found.tag}: {e}", line=found.line) from None
    return -amount if parts["mark"] == "D" else amount


def _amount(text: str, currency: str) -> Money:
    """'8500,00', '8500,' or '8500' → Money (some banks leave out the comma of a whole amount,
    others pad with zeros); more decimals than the currency has is an error."""
    parts = _AMOUNT.fullmatch(text)
    if parts is None:
        raise ValueError(f"not an amount: {text!r}")
    return Money.parse(f"{int(parts[1])}.{parts[2] or '0'}", currency)


def _date(text: str) -> date:
    return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))


def _entry_date(value_date: date, month_day: str) -> date:
    """The booking date from MMDD, in the year that puts it nearest the value date (a line valued
    on 31 December may be booked on 2 January)."""
    month, day = int(month_day[:2]), int(month_day[2:])
    year = value_date.year + (1 if month - value_date.month < -6 else -1 if month - value_date.month > 6 else 0)
    return date(year, month, day)


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
