"""ISO 20022 camt.053 (BankToCustomerStatement): the end-of-day account statement.

We read camt.053.001.02 (2009, still the most common) to .001.08 (2019), the version told by the
namespace; a later one is refused rather than half-read. Where the versions differ we read both
shapes (entry status as text or as Cd, parties directly or under Pty, a transaction's amount as
Amt or AmtDtls/TxAmt/Amt, the booking date as Dt or DtTm). A batch-booked entry with several
transactions becomes one BankEntry per transaction. The sandbox writes .001.08.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from itertools import count
from typing import Iterator, Sequence

from lxml import etree

from juhe.channels.bank.statement import BankEntry, BankStatement, Direction, StatementFileError, signed_minor
from juhe.channels.bank.transfers import IBAN
from juhe.channels.bank.wire import MessageError, Reader, document, message_name, serialise, sub
from juhe.money import Money

WRITTEN = "camt.053.001.08"
WRITTEN_NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{WRITTEN}"
VERSIONS_READ = range(2, 9)  # .001.02 to .001.08
DIRECTIONS: dict[str, Direction] = {"DBIT": "debit", "CRDT": "credit"}
CODES = {direction: code for code, direction in DIRECTIONS.items()}
ENTRY_STATUSES = ("BOOK", "PDNG", "INFO", "FUTR")  # booked, pending, information only, future (.001.05+)
OPENING, CLOSING = ("OPBD", "PRCD"), ("CLBD",)  # opening booked (or previous closing), closing booked
HEAD_BYTES = 4096  # where the root element and its namespace are, in any real file
_VERSION = re.compile(r"camt\.053\.001\.(\d{2})")
_DOCUMENT_END = re.compile(rb"</(?:[\w.-]+:)?Document>\s*$")


def is_statement(raw: bytes) -> bool:
    """Whether the bytes look like a camt.053 document of any version, from its first kilobytes."""
    head = raw[:HEAD_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") and b"camt.053." in head


def parse(raw: bytes) -> list[BankStatement]:
    """Every statement in the document, or StatementFileError naming the line: nothing from a partial file."""
    root = read_document(raw)
    x = Reader(root)
    ordinals = count(1)
    return [_statement(x, statement, ordinals) for statement in x.all(x.one(root, "BkToCstmrStmt"), "Stmt")]


def read_document(raw: bytes) -> etree._Element:
    """The Document of a camt.053 of a version we read, with at least one Stmt; StatementFileError otherwise."""
    # The settings of wire.parse_xml (no entities, DTDs or network), keeping lxml's line for the error.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as e:
        # A document that stops before its closing </Document> was cut off on the way.
        code = "malformed_statement" if _DOCUMENT_END.search(raw[-HEAD_BYTES:]) else "truncated_statement"
        raise StatementFileError(f"not well-formed XML: {e.msg}", line=e.lineno, code=code) from None
    try:
        name = message_name(root)
    except MessageError as e:
        raise StatementFileError(str(e), line=root.sourceline) from None
    version = _VERSION.fullmatch(name)
    if version is None:
        raise StatementFileError(f"not a camt.053 statement but {name}", line=root.sourceline)
    if int(version[1]) not in VERSIONS_READ:
        raise StatementFileError(f"{name} is not a version we read (camt.053.001.02 to .08)",
                                 line=root.sourceline, code="unsupported_version")  # fmt: skip
    x = Reader(root)
    message = x.one(root, "BkToCstmrStmt")
    if message is None:
        raise StatementFileError("camt.053 lacks BkToCstmrStmt", line=root.sourceline)
    if x.one(message, "Stmt") is None:
        # A statement message of no statement is a bank's export gone wrong, not an account without movement
        # (that statement still has its balances).
        raise StatementFileError("camt.053 BkToCstmrStmt holds no Stmt", line=message.sourceline)
    return root


def _statement(x: Reader, statement: etree._Element, ordinals: Iterator[int]) -> BankStatement:
    try:
        currency = x.text(statement, "Acct/Ccy")
        balances = {x.text(b, "Tp/CdOrPrtry/Cd"): b for b in x.all(statement, "Bal")}
        opening = next((balances[c] for c in OPENING if c in balances), None)
        closing = next((balances[c] for c in CLOSING if c in balances), None)
        opening_balance, closing_balance = _balance(x, opening), _balance(x, closing)
        statement_id = x.required(statement, "Id")
        account = x.text(statement, "Acct/Id/IBAN") or x.required(statement, "Acct/Id/Othr/Id")
    except ValueError as e:
        raise _placed(e, statement) from None
    entries = [e for entry in x.all(statement, "Ntry") for e in _entries(x, entry, next(ordinals))]
    return BankStatement(
        statement_id=statement_id, account=account,
        currency=currency or (entries[0].amount.currency if entries else ""),
        opening_balance=opening_balance, closing_balance=closing_balance, entries=entries,
        closing_position=closing.sourceline if closing is not None else None,
    )  # fmt: skip


def _entries(x: Reader, entry: etree._Element, ordinal: int) -> list[BankEntry]:
    try:
        return _read_entries(x, entry, ordinal)
    except ValueError as e:
        raise _placed(e, entry) from None


def _placed(error: ValueError, element: etree._Element) -> StatementFileError:
    if isinstance(error, StatementFileError):
        return error
    return StatementFileError(f"{etree.QName(element).localname}: {error}", line=element.sourceline)


def _read_entries(x: Reader, entry: etree._Element, ordinal: int) -> list[BankEntry]:
    details = x.all(entry, "NtryDtls/TxDtls")
    booked = _date(x, entry, "BookgDt") or _date(x, entry, "ValDt")
    if booked is None:
        raise MessageError("entry without booking date")
    booked_at = x.text(entry, "BookgDt/DtTm")
    status = x.text(entry, "Sts/Cd") or x.text(entry, "Sts/Prtry") or x.required(entry, "Sts")  # .05+ / .02-.04
    if status not in ENTRY_STATUSES:
        raise MessageError(f"entry status {status!r} is none of {', '.join(ENTRY_STATUSES)}")
    common = {
        "booking_date": booked, "value_date": _date(x, entry, "ValDt"),
        "direction": _direction(x.required(entry, "CdtDbtInd")), "status": status,
        "reversal": x.text(entry, "RvslInd") == "true", "position": ordinal,
        "booked_at": datetime.fromisoformat(booked_at) if booked_at else None,
    }  # fmt: skip
    if len(details) <= 1:
        found = details[0] if details else None
        if found is None:  # a charge or interest: the bank says what it is in the entry's own text
            return [BankEntry(**common, amount=_money(x.one(entry, "Amt")), end_to_end_id=None,
                              bank_ref=x.text(entry, "AcctSvcrRef"), counterparty_name=None, counterparty_account=None,
                              remittance_info=(x.text(entry, "AddtlNtryInf") or "").strip())]  # fmt: skip
        return [_entry(x, common, _money(x.one(entry, "Amt")), x.text(entry, "AcctSvcrRef"), found)]
    return [_entry(x, common, _money(_transaction_amount(x, d)), x.text(d, "Refs/AcctSvcrRef"), d) for d in details]


def _transaction_amount(x: Reader, details: etree._Element) -> etree._Element | None:
    found = x.one(details, "Amt")  # .001.03 and later
    return found if found is not None else x.one(details, "AmtDtls/TxAmt/Amt")


def _entry(x: Reader, common: dict, amount: Money, bank_ref: str | None, details: etree._Element) -> BankEntry:
    # On our transfers (and their returns) the counterparty is the creditor; on credits to us, the debtor.
    side = "Cdtr" if (common["direction"] == "debit") != common["reversal"] else "Dbtr"
    reference = x.text(details, "Refs/EndToEndId")
    return BankEntry(
        **common, amount=amount, end_to_end_id=None if reference in (None, "NOTPROVIDED") else reference,
        bank_ref=bank_ref or x.text(details, "Refs/AcctSvcrRef"),
        counterparty_name=x.text(details, f"RltdPties/{side}/Pty/Nm") or x.text(details, f"RltdPties/{side}/Nm"),
        counterparty_account=x.text(details, f"RltdPties/{side}Acct/Id/IBAN")
        or x.text(details, f"RltdPties/{side}Acct/Id/Othr/Id"),
        remittance_info=_remittance(x, details),
    )  # fmt: skip


def _remittance(x: Reader, details: etree._Element) -> str:
    """Unstructured lines, then structured creditor references (RF… or an invoice number)."""
    texts = [*x.all(details, "RmtInf/Ustrd"), *x.all(details, "RmtInf/Strd/CdtrRefInf/Ref")]
    return " ".join(e.text.strip() for e in texts if e.text and e.text.strip())


def _money(amount: etree._Element | None) -> Money:
    if amount is None:
        raise MessageError("entry without amount")
    text = (amount.text or "").strip()
    if text.startswith("-"):  # ISO 20022 amounts are unsigned: CdtDbtInd gives the direction
        raise MessageError(f"negative amount {text!r}")
    return Money.parse(text, amount.get("Ccy", ""))


def _balance(x: Reader, balance: etree._Element | None) -> Money | None:
    if balance is None:
        return None
    amount = _money(x.one(balance, "Amt"))
    return -amount if x.text(balance, "CdtDbtInd") == "DBIT" else amount


def _date(x: Reader, element: etree._Element, path: str) -> date | None:
    text = x.text(element, f"{path}/Dt") or x.text(element, f"{path}/DtTm")
    return date.fromisoformat(text[:10]) if text else None


def _direction(code: str) -> Direction:
    if code not in DIRECTIONS:
        raise MessageError(f"CdtDbtInd {code!r} is neither CRDT nor DBIT")
    return DIRECTIONS[code]


# --- the bank's side


@dataclass(frozen=True, slots=True)
class Account:
    number: str  # domestic account number (Othr/Id) or IBAN
    currency: str
    owner: str
    servicer_bank: str  # CNAPS bank code of the branch


@dataclass(frozen=True, slots=True)
class BookedTransfer:
    entry: BankEntry
    msg_id: str
    payment_info_id: str
    family: str  # bank transaction sub-family: DMCT domestic, SALA salary, XBCT cross-border


def write(
    msg_id: str, created_at: datetime, account: Account, day: date, sequence: int, opening_minor: int,
    booked: Sequence[BookedTransfer],
) -> bytes:
    """The day's statement; the closing balance is the opening one plus the booked entries."""
    root, message = document(WRITTEN_NAMESPACE, "BkToCstmrStmt")
    header = sub(message, "GrpHdr")
    sub(header, "MsgId", msg_id)
    sub(header, "CreDtTm", created_at.isoformat(timespec="seconds"))
    statement = sub(message, "Stmt")
    sub(statement, "Id", f"{account.number[-16:]}-{day:%Y%m%d}")
    sub(statement, "ElctrncSeqNb", str(sequence))
    sub(statement, "CreDtTm", created_at.isoformat(timespec="seconds"))
    _write_account(sub(statement, "Acct"), account)
    closing_minor = opening_minor + sum(signed_minor(b.entry) for b in booked)
    _write_balance(statement, "OPBD", Money(opening_minor, account.currency), day)
    _write_balance(statement, "CLBD", Money(closing_minor, account.currency), day)
    for transfer in booked:
        _write_entry(statement, transfer)
    return serialise(root)


def _write_account(element: etree._Element, account: Account) -> None:
    _write_account_id(element, account.number)
    sub(element, "Ccy", account.currency)
    sub(sub(element, "Ownr"), "Nm", account.owner)
    member = sub(sub(sub(element, "Svcr"), "FinInstnId"), "ClrSysMmbId")
    sub(sub(member, "ClrSysId"), "Cd", "CNAPS")
    sub(member, "MmbId", account.servicer_bank)


def _write_balance(statement: etree._Element, code: str, amount: Money, day: date) -> None:
    balance = sub(statement, "Bal")
    sub(sub(sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    sub(balance, "Amt", Money(abs(amount.amount_minor), amount.currency).decimal_text(), Ccy=amount.currency)
    sub(balance, "CdtDbtInd", "DBIT" if amount.amount_minor < 0 else "CRDT")
    sub(sub(balance, "Dt"), "Dt", day.isoformat())


def _write_entry(statement: etree._Element, transfer: BookedTransfer) -> None:
    entry = transfer.entry
    element = sub(statement, "Ntry")
    sub(element, "Amt", entry.amount.decimal_text(), Ccy=entry.amount.currency)
    sub(element, "CdtDbtInd", CODES[entry.direction])
    if entry.reversal:
        sub(element, "RvslInd", "true")
    sub(sub(element, "Sts"), "Cd", entry.status)
    sub(sub(element, "BookgDt"), "Dt", entry.booking_date.isoformat())
    sub(sub(element, "ValDt"), "Dt", (entry.value_date or entry.booking_date).isoformat())
    if entry.bank_ref:
        sub(element, "AcctSvcrRef", entry.bank_ref)
    domain = sub(sub(element, "BkTxCd"), "Domn")
    sub(domain, "Cd", "PMNT")
    family = sub(domain, "Fmly")
    ours = (entry.direction == "debit") != entry.reversal  # a transfer we issued, or its return
    sub(family, "Cd", "ICDT" if ours else "RCDT")  # issued / received credit transfer
    sub(family, "SubFmlyCd", "RRTN" if entry.reversal else transfer.family)
    details = sub(sub(element, "NtryDtls"), "TxDtls")
    references = sub(details, "Refs")
    sub(references, "MsgId", transfer.msg_id)
    if entry.bank_ref:
        sub(references, "AcctSvcrRef", entry.bank_ref)
    sub(references, "PmtInfId", transfer.payment_info_id)
    sub(references, "EndToEndId", entry.end_to_end_id or "NOTPROVIDED")
    sub(details, "Amt", entry.amount.decimal_text(), Ccy=entry.amount.currency)
    sub(details, "CdtDbtInd", CODES[entry.direction])
    if entry.counterparty_name or entry.counterparty_account:
        parties = sub(details, "RltdPties")
        side = "Cdtr" if ours else "Dbtr"
        if entry.counterparty_name:
            sub(sub(sub(parties, side), "Pty"), "Nm", entry.counterparty_name)
        if entry.counterparty_account:
            _write_account_id(sub(parties, f"{side}Acct"), entry.counterparty_account)
    if entry.remittance_info:
        sub(sub(details, "RmtInf"), "Ustrd", entry.remittance_info[:140])


def _write_account_id(element: etree._Element, account: str) -> None:
    identification = sub(element, "Id")
    if IBAN.fullmatch(account):
        sub(identification, "IBAN", account)
    else:
        sub(sub(identification, "Othr"), "Id", account)
