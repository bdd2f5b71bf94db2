"""Accounts and the chart of accounts (DESIGN.md): codes, kinds, normal sides, balances."""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from juhe.db.models import Account, new_id
from juhe.money import Money, check_currency

ACCOUNTS = Account.__table__
KINDS = {"asset": "debit", "expense": "debit", "liability": "credit", "equity": "credit", "revenue": "credit"}

# Chart of accounts: the first segment of a code decides its kind.
CHART = {
    "reserve": "asset",  # customer reserve funds (备付金) at a bank
    "clearing": "asset",  # due from a channel
    "receivable": "asset",  # bnpl, scf
    "bank": "asset",  # the platform's own operating accounts
    "payable": "liability",  # owed to a merchant, store or business line
    "fx": "asset",  # currency position held for conversions
    "revenue": "revenue",
    "expense": "expense",
    "equity": "equity",
}


# The customer reserve account (备付金) at the corporate bank: what the bank pays out debits it.
BANK_RESERVE = "reserve:bank"


class AccountError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Balance:
    posted: Money
    pending_debits: Money
    pending_credits: Money
    available: Money  # what can still leave the account: posted less outgoing holds


def kind_of(code: str) -> str:
    head = code.split(":", 1)[0]
    if head not in CHART:
        raise AccountError("invalid_account_code", f"account code must start with one of {sorted(CHART)}")
    return CHART[head]


def payable_code(merchant_id: uuid.UUID, store_id: uuid.UUID | None = None, line_id: uuid.UUID | None = None) -> str:
    if store_id and line_id:
        raise AccountError("invalid_owner", "a payable belongs to a store or a business line, not both")
    suffix = f":store:{store_id}" if store_id else f":line:{line_id}" if line_id else ""
    return f"payable:{merchant_id}{suffix}"


def open_account(
    conn: Connection,
    code: str,
    currency: str,
    *,
    merchant_id: uuid.UUID | None = None,
    no_overdraft: bool = False,
    owner_type: str | None = None,
    owner_id: uuid.UUID | None = None,
    metadata: dict | None = None,
) -> uuid.UUID:
    check_currency(currency)
    kind = kind_of(code)
    account_id = new_id()
    conn.execute(
        insert(ACCOUNTS).values(
            id=account_id, merchant_id=merchant_id, code=code, currency=currency, kind=kind,
            normal_side=KINDS[kind], no_overdraft=no_overdraft, owner_type=owner_type, owner_id=owner_id,
            metadata=metadata or {}, debits_posted=0, credits_posted=0, debits_pending=0, credits_pending=0,
        )
    )
    conn.info.setdefault("juhe_opened_accounts", set()).add((code, currency))
    return account_id


# (code, currency) → id of accounts known to be committed, per engine. An account is never
# deleted nor re-keyed, so the ids hold; this saves a payment's success four lookups.
_KNOWN: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], uuid.UUID]] = weakref.WeakKeyDictionary()


def ensure_account(conn: Connection, code: str, currency: str, **options) -> uuid.UUID:
    """The account for (code, currency), opened on first use."""
    known = _KNOWN.setdefault(conn.engine, {})
    key = (code, currency)
    if key in known:
        return known[key]
    lookup = select(ACCOUNTS.c.id).where(ACCOUNTS.c.code == code, ACCOUNTS.c.currency == currency)
    found = conn.scalar(lookup)
    if found is not None:
        # One this connection opened may still roll back with its transaction: never cache those.
        if key not in conn.info.get("juhe_opened_accounts", ()):
            known[key] = found
        return found
    # Another process may open it at this moment (two API processes, one new currency): the
    # loser's insert fails inside its savepoint, and it takes the winner's account.
    try:
        with conn.begin_nested():
            return open_account(conn, code, currency, **options)
    except IntegrityError:
        return conn.scalar(lookup)


def balance_of(row) -> Balance:
    """Balances in the account's normal direction (a payable's balance is what we owe)."""
    sign = 1 if row.normal_side == "debit" else -1
    posted = sign * (row.debits_posted - row.credits_posted)
    outgoing_held = row.credits_pending if row.normal_side == "debit" else row.debits_pending
    return Balance(
        posted=Money(posted, row.currency),
        pending_debits=Money(row.debits_pending, row.currency),
        pending_credits=Money(row.credits_pending, row.currency),
        available=Money(posted - outgoing_held, row.currency),
    )
