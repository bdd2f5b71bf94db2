"""Account statements in neutral form, whichever format the bank sends (camt.053 or MT940),
and the statement lines that reconciliation matches against our transfers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from juhe.channels.bank.wire import MessageError
from juhe.channels.base import StatementLine
from juhe.money import Money

Direction = Literal["debit", "credit"]


class StatementFileError(MessageError):
    """A statement file that cannot be read whole. `line` is where in the file (None when the
    failure has no place, e.g. a missing closing balance is noticed at the end); `code` says what
    kind of failure: malformed_statement, truncated_statement or unsupported_version."""

    def __init__(self, message: str, *, line: int | None = None, code: str = "malformed_statement"):
        super().__init__(message)
        self.line, self.code = line, code


@dataclass(frozen=True, slots=True)
class BankEntry:
    """One movement on the account, as the bank booked it. Amounts are positive; `direction` signs them."""

    booking_date: date
    value_date: date | None
    amount: Money
    direction: Direction
    status: str  # BOOK (booked), PDNG (pending), INFO
    reversal: bool
    end_to_end_id: str | None  # our reference, for our own transfers
    bank_ref: str | None  # AcctSvcrRef / MT940 bank reference
    counterparty_name: str | None
    counterparty_account: str | None
    remittance_info: str
    position: int | None = None  # where in its file: the :61: line (MT940), the Ntry ordinal (camt.053)
    booked_at: datetime | None = None  # when the file gives a booking time; naive = the bank's local time


@dataclass(frozen=True, slots=True)
class BankStatement:
    statement_id: str
    account: str
    currency: str
    opening_balance: Money | None  # signed: negative is an overdraft
    closing_balance: Money | None
    entries: list[BankEntry]
    closing_position: int | None = None  # where the closing balance is: its line (MT940, camt.053)


@dataclass(frozen=True, slots=True)
class BalanceMismatch:
    """A statement whose booked lines do not lead from its opening to its closing balance: a line
    lost, added or altered between the bank's books and the file. The file is still read; this is
    what reconciliation raises a case for."""

    statement_id: str
    account: str
    line: int | None  # the closing balance's
    opening: Money
    closing: Money  # as the bank states it
    computed_closing: Money  # opening + booked lines

    @property
    def difference(self) -> Money:
        return Money(self.closing.amount_minor - self.computed_closing.amount_minor, self.closing.currency)

    def message(self) -> str:
        return (f"statement {self.statement_id}: opening balance and lines make "
                f"{self.computed_closing.decimal_text()}, the closing balance says {self.closing.decimal_text()} "
                f"{self.closing.currency}")  # fmt: skip


def signed_minor(entry: BankEntry) -> int:
    """The entry's effect on the booked balance."""
    if entry.status != "BOOK":
        return 0
    return entry.amount.amount_minor if entry.direction == "credit" else -entry.amount.amount_minor


def balance_mismatches(statements: list[BankStatement]) -> list[BalanceMismatch]:
    """Every statement whose booked entries do not add up to its closing balance (one with a
    balance missing cannot be checked: camt.053 may carry none)."""
    found = []
    for statement in statements:
        opening, closing = statement.opening_balance, statement.closing_balance
        if opening is None or closing is None or opening.currency != closing.currency:
            continue
        computed = opening.amount_minor + sum(signed_minor(e) for e in statement.entries)
        if computed != closing.amount_minor:
            found.append(BalanceMismatch(statement.statement_id, statement.account, statement.closing_position,
                                         opening, closing, Money(computed, closing.currency)))  # fmt: skip
    return found


def statement_lines(statements: list[BankStatement], zone: ZoneInfo) -> list[StatementLine]:
    """Our transfers on the statements, at the start of their booking day: each debit that carries
    an EndToEndId is a payment, and its reversal (the creditor's bank returned it) a refund."""
    lines = []
    for statement in statements:
        for entry in statement.entries:
            ours = (entry.direction == "debit") != entry.reversal
            if not ours or not entry.end_to_end_id:
                continue
            lines.append(
                StatementLine(
                    kind="refund" if entry.reversal else "payment", payment_id=entry.end_to_end_id,
                    refund_id=(entry.bank_ref or entry.end_to_end_id) if entry.reversal else None,
                    channel_txn_id=entry.bank_ref or "", amount=entry.amount, fee=Money.zero(entry.amount.currency),
                    occurred_at=datetime.combine(entry.booking_date, time(), zone), status=entry.status,
                )  # fmt: skip
            )
    return lines
