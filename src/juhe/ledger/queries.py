"""Read side of the ledger, always scoped to one merchant, with cursor pagination."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, select

from juhe.db.pages import PAGE_MAX, Page, keyset, split  # noqa: F401 -- PAGE_MAX re-exported for the API
from juhe.ledger.accounts import balance_of
from juhe.ledger.posting import ACCOUNTS, ENTRIES, TXNS


def account_view(row) -> dict:
    balance = balance_of(row)
    return {
        "id": str(row.id), "code": row.code, "currency": row.currency, "kind": row.kind,
        "normal_side": row.normal_side, "no_overdraft": row.no_overdraft, "owner_type": row.owner_type,
        "owner_id": str(row.owner_id) if row.owner_id else None, "metadata": row.metadata or {},
        "balance": {
            "posted_minor": balance.posted.amount_minor, "available_minor": balance.available.amount_minor,
            "pending_debits_minor": balance.pending_debits.amount_minor,
            "pending_credits_minor": balance.pending_credits.amount_minor,
        },
        "created_at": row.created_at.isoformat(),
    }


def get_account(conn: Connection, merchant_id: uuid.UUID, account_id: uuid.UUID) -> dict | None:
    row = conn.execute(select(ACCOUNTS).where(ACCOUNTS.c.id == account_id, ACCOUNTS.c.merchant_id == merchant_id)).first()
    return account_view(row) if row else None


def account_exists(conn: Connection, code: str, currency: str) -> bool:
    return conn.scalar(select(ACCOUNTS.c.id).where(ACCOUNTS.c.code == code, ACCOUNTS.c.currency == currency)) is not None


def owned_account_ids(conn: Connection, merchant_id: uuid.UUID, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    return set(conn.scalars(select(ACCOUNTS.c.id).where(ACCOUNTS.c.id.in_(ids), ACCOUNTS.c.merchant_id == merchant_id)))


def list_accounts(
    conn: Connection, merchant_id: uuid.UUID, *, limit: int, cursor: uuid.UUID | None = None, currency: str | None = None
) -> Page:
    query = select(ACCOUNTS).where(ACCOUNTS.c.merchant_id == merchant_id)
    if currency:
        query = query.where(ACCOUNTS.c.currency == currency)
    rows, next_cursor = split(conn.execute(keyset(query, ACCOUNTS.c.id, limit=limit, cursor=cursor)).all(), limit)
    return Page([account_view(r) for r in rows], next_cursor)


def transaction_view(row, entries: list) -> dict:
    return {
        "id": str(row.id), "kind": row.kind, "status": row.status, "idempotency_key": row.idempotency_key,
        "description": row.description, "metadata": row.metadata,
        "hold_id": str(row.hold_id) if row.hold_id else None,
        "reverses_id": str(row.reverses_id) if row.reverses_id else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "created_at": row.created_at.isoformat(),
        "entries": [{"account_id": str(e.account_id), "currency": e.currency, "amount_minor": e.amount_minor} for e in entries],
    }


def transaction_id_by_key(conn: Connection, merchant_id: uuid.UUID, key: str) -> uuid.UUID | None:
    return conn.scalar(select(TXNS.c.id).where(TXNS.c.idempotency_key == key, TXNS.c.merchant_id == merchant_id))


def get_transaction(conn: Connection, merchant_id: uuid.UUID, txn_id: uuid.UUID) -> dict | None:
    row = conn.execute(select(TXNS).where(TXNS.c.id == txn_id, TXNS.c.merchant_id == merchant_id)).first()
    if row is None:
        return None
    entries = conn.execute(select(ENTRIES).where(ENTRIES.c.transaction_id == txn_id).order_by(ENTRIES.c.id)).all()
    return transaction_view(row, entries)


def list_transactions(
    conn: Connection,
    merchant_id: uuid.UUID,
    *,
    limit: int,
    cursor: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    kind: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Page:
    query = select(TXNS).where(TXNS.c.merchant_id == merchant_id)
    if account_id:
        query = query.where(TXNS.c.id.in_(select(ENTRIES.c.transaction_id).where(ENTRIES.c.account_id == account_id)))
    if kind:
        query = query.where(TXNS.c.kind == kind)
    if created_from:
        query = query.where(TXNS.c.created_at >= created_from)
    if created_to:
        query = query.where(TXNS.c.created_at < created_to)
    rows, next_cursor = split(conn.execute(keyset(query, TXNS.c.id, limit=limit, cursor=cursor)).all(), limit)
    ids = [r.id for r in rows]
    by_txn: dict[uuid.UUID, list] = {i: [] for i in ids}
    if ids:
        for e in conn.execute(select(ENTRIES).where(ENTRIES.c.transaction_id.in_(ids)).order_by(ENTRIES.c.id)):
            by_txn[e.transaction_id].append(e)
    return Page([transaction_view(r, by_txn[r.id]) for r in rows], next_cursor)
