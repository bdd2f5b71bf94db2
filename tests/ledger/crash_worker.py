"""Writes ledger batches until killed; run by test_crash.py, which SIGKILLs it mid-batch.

    python crash_worker.py URL TAG BIG_BATCH_SIZE

Prints `COMMITTED <prefix> <size>` after each batch's commit returns and `START <prefix> <size>`
before a big batch begins, flushing each line, so the parent knows what it may expect.
"""

from __future__ import annotations

import sys

from sqlalchemy import select

from juhe.db.engine import Database
from juhe.db.models import Account
from juhe.ledger import post_many, transfer

ACCOUNTS = Account.__table__
SMALL_BATCHES = 3
SMALL_BATCH_SIZE = 10
BIG_BATCHES_MAX = 50  # bounded: the parent kills us long before this


def account_ids(db: Database) -> tuple:
    with db.engine.connect() as conn:
        ids = dict(conn.execute(select(ACCOUNTS.c.code, ACCOUNTS.c.id).where(ACCOUNTS.c.currency == "CNY")).all())
    return ids["bank:main"], ids["revenue:fees"], [ids[f"payable:m{i}"] for i in range(4)]


def batch(prefix: str, size: int, bank, fees, payables) -> list:
    """Pairs of (fund a payable, spend it again): valid only if applied in order, all together."""
    commands = []
    for i in range(size // 2):
        payable, amount = payables[i % len(payables)], 1 + i % 97
        commands.append(transfer(f"{prefix}:{2 * i}", bank, payable, amount))
        commands.append(transfer(f"{prefix}:{2 * i + 1}", payable, fees, amount))
    return commands


def say(line: str) -> None:
    print(line, flush=True)


def main(url: str, tag: str, big_size: int) -> None:
    db = Database(url, migrate=False)
    bank, fees, payables = account_ids(db)
    for n in range(SMALL_BATCHES):
        prefix = f"{tag}:small{n}"
        with db.engine.begin() as conn:
            post_many(conn, batch(prefix, SMALL_BATCH_SIZE, bank, fees, payables))
        say(f"COMMITTED {prefix} {SMALL_BATCH_SIZE}")
    say("READY")
    for n in range(BIG_BATCHES_MAX):
        prefix = f"{tag}:big{n}"
        commands = batch(prefix, big_size, bank, fees, payables)
        say(f"START {prefix} {big_size}")
        with db.engine.begin() as conn:
            post_many(conn, commands)
        say(f"COMMITTED {prefix} {big_size}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
