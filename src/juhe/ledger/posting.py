"""Load, lock and store: the database side of posting. The decisions are in rules.py.

Every function takes a Connection inside an open transaction, so that a payment's state
change, its ledger postings and its webhook land in one commit or not at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import Connection, bindparam, insert, select, update

from juhe.db.models import Account, LedgerEntry, LedgerTransaction
from juhe.db.types import utcnow
from juhe.ledger.rules import (
    AccountState,
    Command,
    Plan,
    PlannedTxn,
    Problem,
    StoredEntry,
    StoredTxn,
    Void,
    plan_batch,
    referenced_ids,
    touched_accounts,
)

ACCOUNTS = Account.__table__
TXNS = LedgerTransaction.__table__
ENTRIES = LedgerEntry.__table__
EXPIRY_SWEEP_MAX = 1_000
IN_CHUNK = 5_000  # bound on bind parameters per statement (SQLite allows 32,766)


class LedgerError(Exception):
    """A batch the rules rejected; `problems` lists every reason, the batch wrote nothing."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"#{p.index} {p.code}: {p.message}" for p in problems[:5]))

    @property
    def code(self) -> str:
        return self.problems[0].code


def post_many(conn: Connection, commands: Sequence[Command], now: datetime | None = None) -> list[PlannedTxn]:
    """Post a batch in the caller's database transaction: all of it, or none (LedgerError)."""
    if not commands:
        return []
    now = now or utcnow()
    referenced = _load_transactions(conn, referenced_ids(commands), lock=True)
    accounts = _lock_accounts(conn, touched_accounts(commands, referenced))
    # Read keys only after the locks: a concurrent twin of this batch has committed by now.
    existing = _load_by_keys(conn, {c.key for c in commands})
    plan, problems = plan_batch(commands, accounts, existing, referenced, now)
    if problems:
        raise LedgerError(problems)
    _store(conn, plan, accounts, now)
    return plan.transactions


def post(conn: Connection, command: Command, now: datetime | None = None) -> PlannedTxn:
    return post_many(conn, [command], now)[0]


def expire_holds(conn: Connection, now: datetime | None = None) -> int:
    """Void holds past their expiry (bounded per call); returns how many were expired."""
    now = now or utcnow()
    due = conn.scalars(
        select(TXNS.c.id)
        .where(TXNS.c.kind == "hold", TXNS.c.status == "pending", TXNS.c.expires_at <= now)
        .order_by(TXNS.c.expires_at)
        .limit(EXPIRY_SWEEP_MAX)
    ).all()
    post_many(conn, [Void(f"expire:{hold_id}", hold_id, expired=True) for hold_id in due], now)
    return len(due)


def _chunks(ids: Iterable) -> Iterable[list]:
    items = list(ids)
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _lock_accounts(conn: Connection, ids: set[uuid.UUID]) -> dict[uuid.UUID, AccountState]:
    # Sorted lock order: two batches touching the same accounts can never deadlock.
    states: dict[uuid.UUID, AccountState] = {}
    columns = (ACCOUNTS.c.id, ACCOUNTS.c.currency, ACCOUNTS.c.normal_side, ACCOUNTS.c.no_overdraft,
               ACCOUNTS.c.debits_posted, ACCOUNTS.c.credits_posted, ACCOUNTS.c.debits_pending, ACCOUNTS.c.credits_pending)
    for chunk in _chunks(sorted(ids)):
        rows = conn.execute(select(*columns).where(ACCOUNTS.c.id.in_(chunk)).order_by(ACCOUNTS.c.id).with_for_update())
        for row in rows:
            states[row[0]] = AccountState(*row)
    return states


def _load_by_keys(conn: Connection, keys: set[str]) -> dict[str, StoredTxn]:
    """Transactions already posted under these keys, whole, so a replay answers like the original."""
    found: dict[str, StoredTxn] = {}
    columns = (TXNS.c.id, TXNS.c.idempotency_key, TXNS.c.content_hash, TXNS.c.kind, TXNS.c.status,
               TXNS.c.merchant_id, TXNS.c.expires_at, TXNS.c.hold_id, TXNS.c.reverses_id, TXNS.c.description,
               TXNS.c.metadata)
    for chunk in _chunks(keys):
        for row in conn.execute(select(*columns).where(TXNS.c.idempotency_key.in_(chunk))):
            found[row[1]] = StoredTxn(*row[:7], hold_id=row[7], reverses_id=row[8], description=row[9], metadata=row[10])
    if found:
        by_id = {txn.id: txn for txn in found.values()}
        for chunk in _chunks(by_id):
            for txn_id, account_id, currency, amount in conn.execute(_entries_of(chunk)):
                by_id[txn_id].entries.append(StoredEntry(account_id, currency, amount))
    return found


def _entries_of(txn_ids: list):
    return (select(ENTRIES.c.transaction_id, ENTRIES.c.account_id, ENTRIES.c.currency, ENTRIES.c.amount_minor)
            .where(ENTRIES.c.transaction_id.in_(txn_ids)).order_by(ENTRIES.c.id))


def _load_transactions(conn: Connection, ids: set[uuid.UUID], *, lock: bool) -> dict[uuid.UUID, StoredTxn]:
    """Transactions with their entries and whether they were reversed; holds locked when asked."""
    if not ids:
        return {}
    txns: dict[uuid.UUID, StoredTxn] = {}
    columns = (TXNS.c.id, TXNS.c.idempotency_key, TXNS.c.content_hash, TXNS.c.kind, TXNS.c.status,
               TXNS.c.merchant_id, TXNS.c.expires_at)
    for chunk in _chunks(sorted(ids)):
        query = select(*columns).where(TXNS.c.id.in_(chunk)).order_by(TXNS.c.id)
        for row in conn.execute(query.with_for_update() if lock else query):
            txns[row[0]] = StoredTxn(*row)
        for txn_id, account_id, currency, amount in conn.execute(_entries_of(chunk)):
            txns[txn_id].entries.append(StoredEntry(account_id, currency, amount))
        for (reversed_id,) in conn.execute(select(TXNS.c.reverses_id).where(TXNS.c.reverses_id.in_(chunk))):
            txns[reversed_id].reversed = True
    return txns


def _store(conn: Connection, plan: Plan, before: dict[uuid.UUID, AccountState], now: datetime) -> None:
    new = [t for t in plan.transactions if not t.replayed]
    if not new:
        return
    conn.execute(insert(TXNS), [_txn_row(t, now) for t in new])
    entry_rows = [
        {"transaction_id": t.id, "merchant_id": t.merchant_id, "account_id": e.account_id,
         "currency": e.currency, "amount_minor": e.amount_minor}
        for t in new for e in t.entries
    ]
    if entry_rows:
        conn.execute(insert(ENTRIES), entry_rows)
    if plan.hold_status:
        conn.execute(
            update(TXNS).where(TXNS.c.id == bindparam("hold"), TXNS.c.status == "pending").values(status=bindparam("to")),
            [{"hold": hold_id, "to": status} for hold_id, status in plan.hold_status.items()],
        )
    _store_balances(conn, plan.accounts, before)


def _store_balances(conn: Connection, after: dict[uuid.UUID, AccountState], before: dict[uuid.UUID, AccountState]) -> None:
    # Paired assertion: each row is updated only if it still holds the balances we locked and
    # read. A writer that bypassed the lock would make the count come up short.
    fields = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
    statement = update(ACCOUNTS).where(
        ACCOUNTS.c.id == bindparam("account"),
        *(ACCOUNTS.c[f] == bindparam(f"old_{f}") for f in fields),
    ).values({f: bindparam(f"new_{f}") for f in fields})
    rows = []
    for account_id, state in after.items():
        old = before[account_id]
        assert not state.overdrawn(), f"planned balance of {account_id} is overdrawn"
        row = {"account": account_id}
        for f in fields:
            row[f"old_{f}"] = getattr(old, f)
            row[f"new_{f}"] = getattr(state, f)
        rows.append(row)
    if not rows:
        return
    result = conn.execute(statement, rows)
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(rows):
        raise RuntimeError(f"balances changed under the lock: {result.rowcount} of {len(rows)} accounts updated")


def _txn_row(t: PlannedTxn, now: datetime) -> dict:
    return {
        "id": t.id, "merchant_id": t.merchant_id, "idempotency_key": t.key, "content_hash": t.content_hash,
        "kind": t.kind, "status": t.status, "hold_id": t.hold_id, "reverses_id": t.reverses_id,
        "description": t.description, "metadata": dict(t.metadata) if t.metadata else None,
        "expires_at": t.expires_at, "created_at": now,
    }
