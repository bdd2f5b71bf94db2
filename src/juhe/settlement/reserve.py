"""The daily proof of customer reserve funds (备付金): what the ledger owes merchants against
what the reserve account at the bank holds, from the bank's camt.053 (or MT940) for the day.

Per currency, as of the end of the day in the bank's zone (posted entries only; a payout
held but not yet executed is still in the bank and still owed):

- liabilities_minor: the customer funds owed, the sum of every `payable:*` account;
- in_transit_minor: the sum of `clearing:*` — money collected for merchants that the channels
  have not yet paid into the reserve account. It is counted as cover because it is a claim on
  a licensed channel for those very funds; leaving it out would report every not-yet-settled
  collection as a shortfall.
- ledger_reserve_minor: what our ledger says the reserve account holds (`reserve:bank`, the
  account payouts and transfers are booked against);
- bank_balance_minor: the statement's closing booked balance.

Two checks, both must hold:
- difference_minor = bank − ledger reserve = 0: the reserve account is booked exactly (a
  non-zero difference is a mismatch to investigate: a bank movement we did not book, or ours
  the bank did not execute);
- coverage_minor = bank + in transit − liabilities ≥ 0: the customer funds are fully backed.
  A positive coverage is the platform's own money (fee income) not yet swept out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection, func, select

from juhe.channels.bank import BankStatement, read_statements
from juhe.channels.base import ChannelError
from juhe.db.models import new_id
from juhe.db.types import utcnow
from juhe.ledger.posting import ACCOUNTS, ENTRIES, TXNS
from juhe.ledger.verify import POSTED_KINDS
from juhe.monitor.alerts import raise_alert
from juhe.settlement.calendar import DEFAULT_TIMEZONE, zone_of
from juhe.settlement.models import ReserveProofRow
from juhe.ledger.accounts import BANK_RESERVE

PROOFS = ReserveProofRow.__table__


class ReserveError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class CurrencyProof:
    currency: str
    statement_id: str
    liabilities_minor: int
    in_transit_minor: int
    ledger_reserve_minor: int
    bank_balance_minor: int

    @property
    def difference_minor(self) -> int:
        return self.bank_balance_minor - self.ledger_reserve_minor

    @property
    def coverage_minor(self) -> int:
        return self.bank_balance_minor + self.in_transit_minor - self.liabilities_minor

    @property
    def ok(self) -> bool:
        return self.difference_minor == 0 and self.coverage_minor >= 0


@dataclass(frozen=True, slots=True)
class ReserveProof:
    day: date
    reserve_account: str
    currencies: tuple[CurrencyProof, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.currencies)

    @property
    def mismatches(self) -> tuple[CurrencyProof, ...]:
        """What an alert should be raised about."""
        return tuple(c for c in self.currencies if not c.ok)

    def as_json(self) -> dict:
        return {
            "object": "reserve_proof", "day": self.day.isoformat(), "reserve_account": self.reserve_account, "ok": self.ok,
            "currencies": [
                {"currency": c.currency, "statement_id": c.statement_id, "liabilities_minor": c.liabilities_minor,
                 "in_transit_minor": c.in_transit_minor, "ledger_reserve_minor": c.ledger_reserve_minor,
                 "bank_balance_minor": c.bank_balance_minor, "difference_minor": c.difference_minor,
                 "coverage_minor": c.coverage_minor, "ok": c.ok}
                for c in self.currencies
            ],
        }


def prove_reserve(
    conn: Connection, day: date, statement: bytes | list[BankStatement], *, reserve_account: str = BANK_RESERVE,
    tz: str = DEFAULT_TIMEZONE,
) -> ReserveProof:
    """Prove `day` against the reserve account's statement and store the proof (one row per
    day and currency, replaced on a rerun) in the caller's transaction."""
    statements = _statements(statement, day)
    end = datetime.combine(day + timedelta(days=1), time(0), zone_of(tz))
    proofs = []
    for found in statements:
        currency = found.currency
        proofs.append(CurrencyProof(
            currency=currency, statement_id=found.statement_id[:64],
            liabilities_minor=-_posted_sum(conn, currency, end, prefix="payable:"),
            in_transit_minor=_posted_sum(conn, currency, end, prefix="clearing:"),
            ledger_reserve_minor=_posted_sum(conn, currency, end, code=reserve_account),
            bank_balance_minor=found.closing_balance.amount_minor,
        ))
    proof = ReserveProof(day, reserve_account, tuple(proofs))
    _store(conn, proof)
    for mismatch in proof.mismatches:
        raise_alert(conn, "reserve_mismatch", None, f"reserve funds of {day} do not prove ({mismatch.currency})",
                    {"bank_balance_minor": mismatch.bank_balance_minor, "ledger_reserve_minor": mismatch.ledger_reserve_minor,
                     "liabilities_minor": mismatch.liabilities_minor, "in_transit_minor": mismatch.in_transit_minor},
                    f"reserve:{day}:{reserve_account}:{mismatch.currency}")
    return proof


def _statements(statement: bytes | list[BankStatement], day: date) -> list[BankStatement]:
    if isinstance(statement, (bytes, bytearray)):
        try:
            statement = read_statements(bytes(statement))
        except ChannelError as error:
            raise ReserveError("invalid_statement", str(error)) from None
    if not statement:
        raise ReserveError("invalid_statement", "the file holds no statement")
    currencies = [s.currency for s in statement]
    if len(set(currencies)) != len(currencies):
        raise ReserveError("invalid_statement", "give one statement per currency (the reserve account's, for the day)")
    for found in statement:
        if found.closing_balance is None:
            raise ReserveError("no_closing_balance", f"statement {found.statement_id} has no closing booked balance")
        other = sorted({e.booking_date for e in found.entries} - {day})
        if other:
            raise ReserveError("statement_day_mismatch", f"statement {found.statement_id} books entries on {other[0]}, not {day}")
    return statement


def _posted_sum(conn: Connection, currency: str, end: datetime, *, prefix: str | None = None, code: str | None = None) -> int:
    """Signed sum (debit positive) of posted entries before `end` on the matching accounts."""
    account = ACCOUNTS.c.code.like(f"{prefix}%") if prefix else ACCOUNTS.c.code == code
    total = conn.scalar(
        select(func.coalesce(func.sum(ENTRIES.c.amount_minor), 0))
        .select_from(ENTRIES.join(TXNS, TXNS.c.id == ENTRIES.c.transaction_id).join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
        .where(account, ACCOUNTS.c.currency == currency, TXNS.c.kind.in_(POSTED_KINDS), TXNS.c.created_at < end)
    )
    return int(total)


def _store(conn: Connection, proof: ReserveProof) -> None:
    now = utcnow()
    for line in proof.currencies:
        values = {
            "reserve_account": proof.reserve_account, "statement_id": line.statement_id,
            "liabilities_minor": line.liabilities_minor, "in_transit_minor": line.in_transit_minor,
            "ledger_reserve_minor": line.ledger_reserve_minor, "bank_balance_minor": line.bank_balance_minor,
            "difference_minor": line.difference_minor, "coverage_minor": line.coverage_minor, "ok": line.ok,
            "updated_at": now,
        }
        where = (PROOFS.c.day == proof.day, PROOFS.c.currency == line.currency)
        if conn.execute(PROOFS.update().where(*where).values(values)).rowcount == 0:
            conn.execute(PROOFS.insert().values(id=new_id(), merchant_id=None, day=proof.day, currency=line.currency,
                                                created_at=now, **values))


def reserve_proof_view(row) -> dict:
    """A stored proof (one day, one currency) as the API shows it."""
    return {
        "object": "reserve_proof", "day": row.day.isoformat(), "currency": row.currency, "reserve_account": row.reserve_account,
        "statement_id": row.statement_id, "liabilities_minor": row.liabilities_minor, "in_transit_minor": row.in_transit_minor,
        "ledger_reserve_minor": row.ledger_reserve_minor, "bank_balance_minor": row.bank_balance_minor,
        "difference_minor": row.difference_minor, "coverage_minor": row.coverage_minor, "ok": row.ok,
        "updated_at": row.updated_at.isoformat(),
    }  # fmt: skip
