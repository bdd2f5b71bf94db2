"""The lines of a transfer batch (payroll, supplier payments), read from CSV or JSON and checked,
every line, before anything is held or sent: one bad line rejects the batch, and the answer
names every bad line at once, so that finance fixes the file in one go.

CSV: a header row, then one transfer per row; a line number is the row's line in the file
(the header is line 1), as a spreadsheet shows it. JSON: a list of objects with the same keys;
a line number is the object's place in the list, from 1.

Columns: end_to_end_id, amount (decimal text, "1234.50"), currency, creditor_name,
creditor_account (IBAN, or a domestic account number), creditor_bank (BIC, or a 12-digit CNAPS
bank code; needed for a domestic account), remittance_info, execution_date (YYYY-MM-DD, default
today). JSON may give amount_minor (int) instead of amount.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterable, Mapping

from juhe.money import Money, MoneyError, check_currency

TRANSFERS_PER_BATCH_MAX = 10_000
TEXT_MAX = 140  # Max140Text: creditor names and unstructured remittance in pain.001
AMOUNT_DIGITS_MAX = 18  # totalDigits of ISO 20022 amounts
EXECUTION_DAYS_AHEAD_MAX = 90  # banks keep future-dated orders for about a quarter
COLUMNS_REQUIRED = ("end_to_end_id", "amount", "currency", "creditor_name", "creditor_account")
COLUMNS_OPTIONAL = ("creditor_bank", "remittance_info", "execution_date")
# References travel through SWIFT and domestic clearing, whose 'x' character set is this.
REFERENCE = re.compile(r"[A-Za-z0-9/\-?:().,'+]{1,35}")
IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}")
BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
CNAPS = re.compile(r"[0-9]{12}")  # China's CNAPS bank code (联行号)
DOMESTIC_ACCOUNT = re.compile(r"[0-9][0-9-]{4,32}[0-9]")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")  # not allowed in XML 1.0 text


@dataclass(frozen=True, slots=True)
class TransferItem:
    end_to_end_id: str  # ours; comes back in the bank's status report and statement
    amount: Money
    creditor_name: str
    creditor_account: str  # IBAN or domestic account number, without spaces
    creditor_bank: str | None  # BIC or CNAPS bank code
    remittance_info: str
    execution_date: date
    line: int  # where it came from: the CSV line or the place in the JSON list


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


def parse_transfer_lines(
    data: str | bytes, *, today: date, account_currency: str | None = None
) -> tuple[list[TransferItem], list[LineError]]:
    """All valid transfers and every error found. A batch with any error must not be sent."""
    text, errors = _text(data)
    if errors:
        return [], errors
    rows, errors = _json_rows(text) if text.lstrip().startswith("[") else _csv_rows(text)
    if not errors and not rows:
        errors = [LineError(1, "file", "no transfers")]
    if len(rows) > TRANSFERS_PER_BATCH_MAX:
        too_many = LineError(rows[TRANSFERS_PER_BATCH_MAX][0], "file", f"more than {TRANSFERS_PER_BATCH_MAX} transfers")
        return [], [too_many]
    items: list[TransferItem] = []
    first_line: dict[str, int] = {}
    for line, fields in rows:
        item, found = check_transfer(fields, line, today=today, account_currency=account_currency)
        reference = fields.get("end_to_end_id")
        if isinstance(reference, str) and reference.strip():
            first = first_line.setdefault(reference.strip(), line)
            if first != line:
                found.append(LineError(line, "end_to_end_id", f"repeats line {first}"))
        errors += found
        if item is not None:
            items.append(item)
    errors.sort(key=lambda e: e.line)  # stable: a line's errors keep their column order
    bad_lines = {e.line for e in errors}
    return [item for item in items if item.line not in bad_lines], errors


def check_transfer(
    fields: Mapping[str, object], line: int, *, today: date, account_currency: str | None = None
) -> tuple[TransferItem | None, list[LineError]]:
    """One transfer's fields checked; the item, if it could be built, and its errors."""
    errors: list[LineError] = []

    def text(name: str, required: bool = True) -> str:
        value = fields.get(name)
        if value is None or value == "":
            if required:
                errors.append(LineError(line, name, "is required"))
            return ""
        if not isinstance(value, str):
            errors.append(LineError(line, name, "must be text"))
            return ""
        if CONTROL_CHARACTERS.search(value):
            errors.append(LineError(line, name, "holds control characters"))
        return value.strip()

    end_to_end_id = text("end_to_end_id")
    if end_to_end_id and not REFERENCE.fullmatch(end_to_end_id):
        errors.append(LineError(line, "end_to_end_id", "1–35 characters of A–Z a–z 0–9 / - ? : ( ) . , ' +"))
    amount = _amount(fields, text("currency"), line, account_currency, errors)
    name = text("creditor_name")
    if len(name) > TEXT_MAX:
        errors.append(LineError(line, "creditor_name", f"longer than {TEXT_MAX} characters"))
    account, bank = _creditor_account(text("creditor_account"), text("creditor_bank", False), line, errors)
    remittance = text("remittance_info", False)
    if len(remittance) > TEXT_MAX:
        errors.append(LineError(line, "remittance_info", f"longer than {TEXT_MAX} characters"))
    execution = _execution_date(text("execution_date", False), today, line, errors)
    if errors:
        return None, errors
    item = TransferItem(end_to_end_id, amount, name, account, bank, remittance, execution, line)
    return item, []


def _text(data: str | bytes) -> tuple[str, list[LineError]]:
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), []
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return "", [LineError(line, "file", "is not UTF-8 text (save the file as UTF-8)")]


def _csv_rows(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[LineError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        errors = _header_errors(header)
        if errors:  # without the right columns no line can be read
            return [], errors
        rows: list[tuple[int, dict[str, str]]] = []
        end = reader.line_num
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                errors.append(LineError(start, "line", f"has {len(row)} fields, the header has {len(header)}"))
            else:
                rows.append((start, dict(zip(header, row))))
            if len(rows) > TRANSFERS_PER_BATCH_MAX:
                break
    except csv.Error as e:
        return [], [LineError(reader.line_num, "file", f"is not readable CSV: {e}")]
    return rows, errors


def _header_errors(header: list[str]) -> list[LineError]:
    missing = [c for c in COLUMNS_REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS_REQUIRED + COLUMNS_OPTIONAL]
    repeated = sorted({c for c in header if header.count(c) > 1})
    errors = [LineError(1, "header", f"lacks column {c}") for c in missing]
    errors += [LineError(1, "header", f"unknown column {c!r}") for c in unknown]
    return errors + [LineError(1, "header", f"column {c} appears twice") for c in repeated]


def _json_rows(text: str) -> tuple[list[tuple[int, Mapping[str, object]]], list[LineError]]:
    try:
        found = json.loads(text)
    except json.JSONDecodeError as e:
        return [], [LineError(e.lineno, "file", f"is not valid JSON: {e.msg}")]
    if not isinstance(found, list):
        return [], [LineError(1, "file", "must be a JSON list of transfers")]
    rows: list[tuple[int, Mapping[str, object]]] = []
    errors: list[LineError] = []
    for number, entry in enumerate(found[: TRANSFERS_PER_BATCH_MAX + 1], start=1):
        if not isinstance(entry, dict):
            errors.append(LineError(number, "line", "must be an object"))
            continue
        unknown = sorted(set(entry) - set(COLUMNS_REQUIRED + COLUMNS_OPTIONAL + ("amount_minor",)))
        errors += [LineError(number, key, "is not a transfer field") for key in unknown]
        rows.append((number, entry))
    return rows, errors


def _amount(
    fields: Mapping[str, object], currency: str, line: int, account_currency: str | None, errors: list[LineError]
) -> Money | None:
    if not currency:
        return None
    try:
        check_currency(currency)
    except MoneyError as e:
        errors.append(LineError(line, "currency", str(e)))
        return None
    if account_currency is not None and currency != account_currency:
        errors.append(LineError(line, "currency", f"the debtor account holds {account_currency}, not {currency}"))
    text, minor = fields.get("amount"), fields.get("amount_minor")
    try:
        if isinstance(text, str) and text:
            amount = Money.parse(text, currency)
        elif text is None and isinstance(minor, int) and not isinstance(minor, bool):
            amount = Money(minor, currency)
        else:
            # A JSON number may have passed through a float already; only text is exact.
            errors.append(LineError(line, "amount", 'is required, as decimal text like "1234.50"'))
            return None
    except MoneyError as e:
        errors.append(LineError(line, "amount", str(e)))
        return None
    if amount.amount_minor <= 0:
        errors.append(LineError(line, "amount", "must be more than zero"))
    elif len(str(amount.amount_minor)) > AMOUNT_DIGITS_MAX:
        errors.append(LineError(line, "amount", f"has more than {AMOUNT_DIGITS_MAX} digits"))
    return amount


def _creditor_account(account: str, bank: str, line: int, errors: list[LineError]) -> tuple[str, str | None]:
    account = account.replace(" ", "")
    bank = bank.replace(" ", "").upper()
    if bank and not (BIC.fullmatch(bank) or CNAPS.fullmatch(bank)):
        errors.append(LineError(line, "creditor_bank", "is neither a BIC nor a 12-digit CNAPS bank code"))
    if IBAN.fullmatch(account.upper()):
        account = account.upper()
        if not iban_checksum_ok(account):
            errors.append(LineError(line, "creditor_account", "IBAN check digits do not match"))
    elif DOMESTIC_ACCOUNT.fullmatch(account):
        if not bank:
            errors.append(LineError(line, "creditor_bank", "is required for a domestic account number"))
    elif account:
        message = "is neither an IBAN nor a domestic account number (6–34 digits)"
        errors.append(LineError(line, "creditor_account", message))
    return account, bank or None


def iban_checksum_ok(iban: str) -> bool:
    """ISO 13616: the IBAN, its first four characters moved to the end, letters as 10–35, mod 97 is 1."""
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _execution_date(value: str, today: date, line: int, errors: list[LineError]) -> date:
    if not value:
        return today
    try:
        found = date.fromisoformat(value)
    except ValueError:
        errors.append(LineError(line, "execution_date", "is not a date like 2025-06-30"))
        return today
    if found < today:
        errors.append(LineError(line, "execution_date", f"{found} is in the past"))
    elif found > today + timedelta(days=EXECUTION_DAYS_AHEAD_MAX):
        errors.append(LineError(line, "execution_date", f"is more than {EXECUTION_DAYS_AHEAD_MAX} days ahead"))
    return found


def batch_total(items: Iterable[TransferItem]) -> dict[str, Money]:
    """The amount to hold per currency before the batch is sent."""
    totals: dict[str, Money] = {}
    for item in items:
        totals[item.amount.currency] = totals.get(item.amount.currency, Money.zero(item.amount.currency)) + item.amount
    return totals
