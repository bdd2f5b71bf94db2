"""Load, lock and store: the database side of posting. The decisions are in rules.py.

Every function takes a Connection inside an open transaction, so that a payment's state
change, its ledger postings and its webhook land in one commit or not at all.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Iterable, Sequence

from sqlalchemy import ARRAY, JSON, Column, Connection, Select, Table, any_, bindparam, func, select, true, update

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


_as_int = attrgetter("int")  # sort key: the order of UUIDs on both databases, without calling UUID.__lt__
ACCOUNT_STATE = (ACCOUNTS.c.id, ACCOUNTS.c.currency, ACCOUNTS.c.normal_side, ACCOUNTS.c.no_overdraft,
                 ACCOUNTS.c.debits_posted, ACCOUNTS.c.credits_posted, ACCOUNTS.c.debits_pending, ACCOUNTS.c.credits_pending)
STORED_TXN = (TXNS.c.id, TXNS.c.idempotency_key, TXNS.c.content_hash, TXNS.c.kind, TXNS.c.status,
              TXNS.c.merchant_id, TXNS.c.expires_at)
SHORT_LIST = 16  # up to this many values: IN (…) / per-row statements; above: one array parameter


@lru_cache(maxsize=None)
def _query(dialect: str, name: str, many: bool) -> Select:
    """The loading statements, built once (building a statement and its cache key on every call
    cost about 1 ms per `post`). Each takes its list of values as the parameter `values`.

    On PostgreSQL a long list goes as one array, `= ANY(:values)`: one statement text whatever
    the count, where an expanding IN is a new statement, parsed again by psycopg and the server,
    for every count. A short list stays an IN: PostgreSQL re-plans an array statement on every
    execution (a custom plan beats the generic one), ~50-100 µs each, which a 1-transfer `post`
    would pay three times; IN statements of a fixed count are prepared and planned once.
    """
    array = dialect == "postgresql" and many

    def member_of(column):
        return column == any_(bindparam("values", type_=ARRAY(column.type))) if array else column.in_(bindparam("values", expanding=True))

    columns = (*STORED_TXN, TXNS.c.hold_id, TXNS.c.reverses_id, TXNS.c.description, TXNS.c.metadata)
    if name == "by_keys" and array:
        # One index probe per key whatever the statistics say: for `= ANY(keys)` the planner
        # seq-scans a young table with stale statistics (37 ms per 1,000 keys at 100k rows).
        wanted = func.unnest(bindparam("values", type_=ARRAY(TXNS.c.idempotency_key.type))).table_valued("key").render_derived()
        match = select(*columns).where(TXNS.c.idempotency_key == wanted.c.key).limit(1).lateral()
        return select(*match.c).select_from(wanted).join(match, true())
    if name == "by_keys":
        return select(*columns).where(member_of(TXNS.c.idempotency_key))
    if name == "lock_accounts":
        return select(*ACCOUNT_STATE).where(member_of(ACCOUNTS.c.id)).order_by(ACCOUNTS.c.id).with_for_update()
    if name == "transactions":
        return select(*STORED_TXN).where(member_of(TXNS.c.id)).order_by(TXNS.c.id)
    if name == "transactions_locked":
        return select(*STORED_TXN).where(member_of(TXNS.c.id)).order_by(TXNS.c.id).with_for_update()
    if name == "entries":
        return (select(ENTRIES.c.transaction_id, ENTRIES.c.account_id, ENTRIES.c.currency, ENTRIES.c.amount_minor)
                .where(member_of(ENTRIES.c.transaction_id)).order_by(ENTRIES.c.id))
    if name == "reversed":
        return select(TXNS.c.reverses_id).where(member_of(TXNS.c.reverses_id))
    raise KeyError(name)


def _select(conn: Connection, name: str, values: list):
    return conn.execute(_query(conn.dialect.name, name, len(values) > SHORT_LIST), {"values": values})


def _chunks(ids: Iterable) -> Iterable[list]:
    items = list(ids)
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _lock_accounts(conn: Connection, ids: set[uuid.UUID]) -> dict[uuid.UUID, AccountState]:
    # Sorted lock order: two batches touching the same accounts can never deadlock.
    states: dict[uuid.UUID, AccountState] = {}
    for chunk in _chunks(sorted(ids, key=_as_int)):
        for row in _select(conn, "lock_accounts", chunk):
            states[row[0]] = AccountState(*row)
    return states


def _load_by_keys(conn: Connection, keys: set[str]) -> dict[str, StoredTxn]:
    """Transactions already posted under these keys, whole, so a replay answers like the original."""
    found: dict[str, StoredTxn] = {}
    for chunk in _chunks(keys):
        for row in _select(conn, "by_keys", chunk):
            found[row[1]] = StoredTxn(*row[:7], hold_id=row[7], reverses_id=row[8], description=row[9], metadata=row[10])
    if found:
        by_id = {txn.id: txn for txn in found.values()}
        for chunk in _chunks(by_id):
            for txn_id, account_id, currency, amount in _select(conn, "entries", chunk):
                by_id[txn_id].entries.append(StoredEntry(account_id, currency, amount))
    return found


def _load_transactions(conn: Connection, ids: set[uuid.UUID], *, lock: bool) -> dict[uuid.UUID, StoredTxn]:
    """Transactions with their entries and whether they were reversed; holds locked when asked."""
    if not ids:
        return {}
    txns: dict[uuid.UUID, StoredTxn] = {}
    for chunk in _chunks(sorted(ids, key=_as_int)):
        for row in _select(conn, "transactions_locked" if lock else "transactions", chunk):
            txns[row[0]] = StoredTxn(*row)
        for txn_id, account_id, currency, amount in _select(conn, "entries", chunk):
            txns[txn_id].entries.append(StoredEntry(account_id, currency, amount))
        for (reversed_id,) in _select(conn, "reversed", chunk):
            txns[reversed_id].reversed = True
    return txns


BALANCES = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
UPDATE_BALANCES = update(ACCOUNTS).where(
    ACCOUNTS.c.id == bindparam("account"), *(ACCOUNTS.c[f] == bindparam(f"old_{f}") for f in BALANCES)
).values({f: bindparam(f"new_{f}") for f in BALANCES})


def _store(conn: Connection, plan: Plan, before: dict[uuid.UUID, AccountState], now: datetime) -> None:
    new = [t for t in plan.transactions if not t.replayed]
    if not new:
        return
    _insert_columns(conn, TXNS, {
        "id": [t.id for t in new], "merchant_id": [t.merchant_id for t in new],
        "idempotency_key": [t.key for t in new], "content_hash": [t.content_hash for t in new],
        "kind": [t.kind for t in new], "status": [t.status for t in new], "hold_id": [t.hold_id for t in new],
        "reverses_id": [t.reverses_id for t in new], "description": [t.description for t in new],
        "metadata": [dict(t.metadata) if t.metadata else None for t in new],
        "expires_at": [t.expires_at for t in new], "created_at": now,
    })
    entries = [(t, e) for t in new for e in t.entries]
    if entries:
        _insert_columns(conn, ENTRIES, {
            "transaction_id": [t.id for t, _ in entries], "merchant_id": [t.merchant_id for t, _ in entries],
            "account_id": [e.account_id for _, e in entries], "currency": [e.currency for _, e in entries],
            "amount_minor": [e.amount_minor for _, e in entries],
        })
    if plan.hold_status:
        conn.execute(
            update(TXNS).where(TXNS.c.id == bindparam("hold"), TXNS.c.status == "pending").values(status=bindparam("to")),
            [{"hold": hold_id, "to": status} for hold_id, status in plan.hold_status.items()],
        )
    _store_balances(conn, plan.accounts, before)


def _insert_columns(conn: Connection, table: Table, columns: dict[str, list | object]) -> None:
    """INSERT rows given column by column; a value that is not a list is the same for every row.

    SQLAlchemy's executemany builds and processes a parameter dict per row, and psycopg then
    pipelines one INSERT per row. Instead -- PostgreSQL: one `INSERT … SELECT FROM unnest(arrays)`
    with the arrays sent in binary; SQLite: the driver's executemany on tuples converted by the
    columns' own bind processors (so values are stored exactly as SQLAlchemy would store them).
    """
    names = list(columns)
    dialect = conn.dialect
    info = _columns(table, dialect)
    if dialect.name == "postgresql":
        selected, arrays, aliases, params = [], [], [], {}
        for name in names:
            sql_type, value = info[name][0], columns[name]
            if not isinstance(value, list):
                selected.append(f"%({name})s::{sql_type}")
                params[name] = _pg_value(table.c[name], value)
            elif all(v is None for v in value):  # no element type to send: a typed NULL
                selected.append(f"NULL::{sql_type}")
            else:
                selected.append(name)
                aliases.append(name)
                arrays.append(f"%({name})b::{sql_type}[]")
                params[name] = [_pg_value(table.c[name], v) for v in value] if isinstance(table.c[name].type, JSON) else value
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(selected)} "
            f"FROM unnest({', '.join(arrays)}) AS v({', '.join(aliases)})",
            params,
        )
        return
    rows = next(len(v) for v in columns.values() if isinstance(v, list))
    processed = []
    for name in names:
        value, process = columns[name], info[name][1]
        if isinstance(value, list):
            processed.append([process(v) for v in value] if process else value)
        else:
            processed.append([process(value) if process else value] * rows)
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", list(zip(*processed))
    )


@lru_cache(maxsize=16)
def _columns(table: Table, dialect) -> dict[str, tuple[str, object]]:
    """Each column's SQL type and bind processor on this dialect, worked out once."""
    return {c.name: (c.type.compile(dialect), c.type.dialect_impl(dialect).bind_processor(dialect)) for c in table.c}


def _pg_value(column: Column, value):
    if isinstance(column.type, JSON):  # serialised here (as SQLAlchemy would), cast by the server
        return None if value is None else json.dumps(value)
    return value


def _store_balances(conn: Connection, after: dict[uuid.UUID, AccountState], before: dict[uuid.UUID, AccountState]) -> None:
    # Paired assertion: each row is updated only if it still holds the balances we locked and
    # read. A writer that bypassed the lock would make the count come up short.
    ids, old, new = [], [], []
    for account_id, state in after.items():
        assert not state.overdrawn(), f"planned balance of {account_id} is overdrawn"
        previous = before[account_id]
        ids.append(account_id)
        old.append((previous.debits_posted, previous.credits_posted, previous.debits_pending, previous.credits_pending))
        new.append((state.debits_posted, state.credits_posted, state.debits_pending, state.credits_pending))
    if not ids:
        return
    if conn.dialect.name == "sqlite":  # the driver's executemany (sqlite3 sums rowcount over the rows)
        to_db = _columns(ACCOUNTS, conn.dialect)["id"][1]
        result = conn.exec_driver_sql(
            f"UPDATE {ACCOUNTS.name} SET {', '.join(f'{f} = ?' for f in BALANCES)} "
            f"WHERE id = ? AND {' AND '.join(f'{f} = ?' for f in BALANCES)}",
            [(*n, to_db(i), *o) for i, o, n in zip(ids, old, new)],
        )
    elif len(ids) > SHORT_LIST:  # one UPDATE … FROM unnest(arrays) instead of one UPDATE per account
        params = {"ids": ids}
        for i, f in enumerate(BALANCES):
            params[f"old_{f}"] = [o[i] for o in old]
            params[f"new_{f}"] = [n[i] for n in new]
        arrays = ", ".join(["%(ids)b::uuid[]", *(f"%(old_{f})b::bigint[]" for f in BALANCES),
                            *(f"%(new_{f})b::bigint[]" for f in BALANCES)])
        aliases = ", ".join(["id", *(f"old_{f}" for f in BALANCES), *(f"new_{f}" for f in BALANCES)])
        result = conn.exec_driver_sql(
            f"UPDATE {ACCOUNTS.name} AS a SET {', '.join(f'{f} = v.new_{f}' for f in BALANCES)} "
            f"FROM unnest({arrays}) AS v({aliases}) "
            f"WHERE a.id = v.id AND {' AND '.join(f'a.{f} = v.old_{f}' for f in BALANCES)}",
            params,
        )
    else:  # a few accounts: one prepared UPDATE each, pipelined by psycopg
        rows = [{"account": i, **{f"old_{f}": o[k] for k, f in enumerate(BALANCES)},
                 **{f"new_{f}": n[k] for k, f in enumerate(BALANCES)}} for i, o, n in zip(ids, old, new)]
        result = conn.execute(UPDATE_BALANCES, rows)
        if not conn.dialect.supports_sane_multi_rowcount:
            return
    if result.rowcount != len(ids):
        raise RuntimeError(f"balances changed under the lock: {result.rowcount} of {len(ids)} accounts updated")
