"""camt.053.001.08 BankToCustomerStatement: the correspondent's end-of-day statement of our
accounts with it, one Stmt per account (currency), covering both rails.

Each payment is one DBIT entry of the amount plus the charges billed to us (AmtDtls/TxAmt is
the payment, Chrgs the charges); each return one CRDT entry. References carry our ids
(EndToEndId = payment id, InstrId = refund id on returns) and the UETR or e-CNY transfer id.
The bank transaction code is proprietary: SWIFT for pacs.008 / pacs.004, ECNY for wallet
transfers, as correspondents do for codes outside the ISO family list.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Literal

from juhe.channels.crossborder import iso
from juhe.money import Money

MESSAGE = "camt.053.001.08"
RAILS = frozenset({"SWIFT", "ECNY"})


@dataclass(frozen=True, slots=True)
class Entry:
    kind: Literal["payment", "refund"]
    rail: str  # SWIFT or ECNY
    end_to_end_id: str  # our payment id
    instruction_id: str | None  # our refund id, on returns
    reference: str  # UETR or e-CNY transfer id: the rail's own id of the movement
    amount: Money
    fee: Money
    booked_at: datetime
    status: str = "BOOK"  # PDNG: announced, not yet booked


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    currency: str
    opening: Money


def build(msg_id: str, created_at: datetime, day: date, accounts: list[Account], entries: list[Entry]) -> bytes:
    document, message = iso.new_document(MESSAGE, "BkToCstmrStmt")
    header = iso.sub(message, "GrpHdr")
    iso.sub(header, "MsgId", msg_id)
    iso.sub(header, "CreDtTm", iso.iso_datetime(created_at))
    by_currency: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_currency[entry.amount.currency].append(entry)
    for account in accounts:
        _add_statement(
            message, f"{msg_id[:20]}-{account.currency}", created_at, day, account, by_currency[account.currency]
        )
    return iso.serialize(document)


def _add_statement(
    message, statement_id: str, created_at: datetime, day: date, account: Account, entries: list[Entry]
) -> None:
    statement = iso.sub(message, "Stmt")
    iso.sub(statement, "Id", statement_id)
    iso.sub(statement, "CreDtTm", iso.iso_datetime(created_at))
    period = iso.sub(statement, "FrToDt")
    iso.sub(period, "FrDtTm", iso.iso_datetime(datetime.combine(day, time.min, timezone.utc)))
    iso.sub(period, "ToDtTm", iso.iso_datetime(datetime.combine(day, time.max.replace(microsecond=0), timezone.utc)))
    held = iso.sub(statement, "Acct")
    iso.sub(iso.sub(iso.sub(held, "Id"), "Othr"), "Id", account.id)
    iso.sub(held, "Ccy", account.currency)
    closing = account.opening
    for entry in (e for e in entries if e.status == "BOOK"):
        total = entry.amount + entry.fee
        closing = closing + total if entry.kind == "refund" else closing - total
    _add_balance(statement, "OPBD", account.opening, day)
    _add_balance(statement, "CLBD", closing, day)
    for entry in entries:
        _add_entry(statement, entry)


def _add_balance(statement, code: str, amount: Money, day: date) -> None:
    balance = iso.sub(statement, "Bal")
    iso.sub(iso.sub(iso.sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    iso.add_amount(balance, "Amt", Money(abs(amount.amount_minor), amount.currency))
    iso.sub(balance, "CdtDbtInd", "CRDT" if amount.amount_minor >= 0 else "DBIT")
    iso.sub(iso.sub(balance, "Dt"), "Dt", day.isoformat())


def _add_entry(statement, entry: Entry) -> None:
    node = iso.sub(statement, "Ntry")
    iso.add_amount(node, "Amt", entry.amount + entry.fee)
    iso.sub(node, "CdtDbtInd", "CRDT" if entry.kind == "refund" else "DBIT")
    iso.sub(iso.sub(node, "Sts"), "Cd", entry.status)
    iso.sub(iso.sub(node, "BookgDt"), "DtTm", iso.iso_datetime(entry.booked_at))
    iso.sub(iso.sub(node, "ValDt"), "Dt", entry.booked_at.astimezone(timezone.utc).date().isoformat())
    iso.sub(node, "AcctSvcrRef", entry.reference)
    iso.sub(iso.sub(iso.sub(node, "BkTxCd"), "Prtry"), "Cd", entry.rail)
    if entry.fee.amount_minor:
        iso.add_amount(iso.sub(node, "Chrgs"), "TtlChrgsAndTaxAmt", entry.fee)
    details = iso.sub(iso.sub(node, "NtryDtls"), "TxDtls")
    refs = iso.sub(details, "Refs")
    if entry.instruction_id:
        iso.sub(refs, "InstrId", entry.instruction_id)
    iso.sub(refs, "EndToEndId", entry.end_to_end_id)
    if entry.rail == "SWIFT":
        iso.sub(refs, "UETR", entry.reference)
    iso.add_amount(iso.sub(iso.sub(details, "AmtDtls"), "TxAmt"), "Amt", entry.amount)


def read(raw: bytes) -> list[Entry]:
    message = iso.parse(raw, MESSAGE, "BkToCstmrStmt")
    return [_entry(node) for statement in iso.find_all(message, "Stmt") for node in iso.find_all(statement, "Ntry")]


def _entry(node) -> Entry:
    total = iso.read_amount(node, "Amt")
    amount = iso.read_amount(node, "NtryDtls/TxDtls/AmtDtls/TxAmt/Amt")
    fee = iso.optional_amount(node, "Chrgs/TtlChrgsAndTaxAmt") or Money.zero(total.currency)
    if amount + fee != total:
        raise iso.MessageError(f"entry {iso.text(node, 'AcctSvcrRef')}: {amount} + charges {fee} ≠ {total}")
    rail = iso.required(node, "BkTxCd/Prtry/Cd")
    if rail not in RAILS:
        raise iso.MessageError(f"unknown bank transaction code {rail}")
    direction = iso.required(node, "CdtDbtInd")
    return Entry(
        kind="refund" if direction == "CRDT" else "payment", rail=rail,
        end_to_end_id=iso.required(node, "NtryDtls/TxDtls/Refs/EndToEndId"),
        instruction_id=iso.text(node, "NtryDtls/TxDtls/Refs/InstrId"), reference=iso.required(node, "AcctSvcrRef"),
        amount=amount, fee=fee, booked_at=iso.read_datetime(node, "BookgDt/DtTm"), status=iso.required(node, "Sts/Cd"),
    )  # fmt: skip
