"""Many writers at once: no lost update, no overdraft, no deadlock, every transfer counted once.

Each thread posts its transfers one database transaction at a time, out of payable accounts
that forbid overdraft and hold too little for all of them, so that many must be refused.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from juhe.db.engine import Database
from juhe.db.models import Account, LedgerTransaction
from juhe.ledger import LedgerError, open_account, post, transfer, verify_ledger

ACCOUNTS = Account.__table__
TXNS = LedgerTransaction.__table__
PAYABLES = 8
AMOUNT_MAX_MINOR = 3_000
FEES_SHARE = 0.1


@dataclass
class Tally:
    accepted: list[tuple] = field(default_factory=list)  # (debit, credit, amount)
    refused: int = 0
    errors: list[BaseException] = field(default_factory=list)


def open_and_fund(db: Database, funding_minor: int):
    with db.engine.begin() as conn:
        bank = open_account(conn, "bank:main", "CNY")
        fees = open_account(conn, "revenue:fees", "CNY")
        payables = [open_account(conn, f"payable:m{i}", "CNY", no_overdraft=True) for i in range(PAYABLES)]
    with db.engine.begin() as conn:
        for i, account_id in enumerate(payables):
            post(conn, transfer(f"fund:{i}", bank, account_id, funding_minor))
    return bank, fees, payables


def run_writers(db: Database, threads: int, transfers: int, fees, payables) -> list[Tally]:
    tallies = [Tally() for _ in range(threads)]
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        rng, tally = random.Random(n), tallies[n]
        start.wait()
        for i in range(transfers):
            payer = rng.choice(payables)
            # One transfer in ten leaves the payables for good (fees): balances run dry midway.
            payee = fees if rng.random() < FEES_SHARE else rng.choice([p for p in payables if p != payer])
            amount = rng.randint(1, AMOUNT_MAX_MINOR)
            try:
                with db.engine.begin() as conn:
                    post(conn, transfer(f"t:{n}:{i}", payer, payee, amount))
            except LedgerError as error:
                assert error.code == "insufficient_funds", error
                tally.refused += 1
            except BaseException as error:  # noqa: BLE001 -- a deadlock or lost update fails the test
                tally.errors.append(error)
                return
            else:
                tally.accepted.append((payer, payee, amount))

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a writer hung"
    return tallies


def check_outcome(db: Database, tallies: list[Tally], funding_minor: int, bank, fees, payables) -> None:
    errors = [e for t in tallies for e in t.errors]
    assert not errors, errors[:3]
    accepted = [move for t in tallies for move in t.accepted]
    refused = sum(t.refused for t in tallies)
    # Both outcomes must be common, or the test proves little about the overdraft rule.
    assert min(len(accepted), refused) > (len(accepted) + refused) // 10, (len(accepted), refused)

    expected = Counter({p: funding_minor for p in payables})  # credit-normal: balance = credits - debits
    for payer, payee, amount in accepted:
        expected[payer] -= amount
        expected[payee] += amount
    with db.engine.connect() as conn:
        rows = conn.execute(select(ACCOUNTS.c.id, ACCOUNTS.c.credits_posted - ACCOUNTS.c.debits_posted)).all()
        transactions = conn.scalar(select(func.count()).select_from(TXNS))
        report = verify_ledger(conn)
    stored = dict(rows)
    assert all(stored[p] >= 0 for p in payables), {p: stored[p] for p in payables}
    assert {p: stored[p] for p in payables} == {p: expected[p] for p in payables}
    assert stored[fees] == expected[fees]
    assert stored[bank] == -funding_minor * PAYABLES  # the bank only paid the funding
    assert transactions == len(accepted) + PAYABLES
    assert report.ok, report.problems


@pytest.mark.postgres
def test_concurrent_transfers_on_postgres_never_overdraw_or_lose_an_update(pg_url):
    db = Database(pg_url, pool_size=20, max_overflow=0)
    try:
        bank, fees, payables = open_and_fund(db, 20_000)
        tallies = run_writers(db, threads=16, transfers=200, fees=fees, payables=payables)
        check_outcome(db, tallies, 20_000, bank, fees, payables)
    finally:
        db.dispose()


def test_concurrent_transfers_on_sqlite_never_overdraw_or_lose_an_update(sqlite_url):
    db = Database(sqlite_url, pool_size=4, max_overflow=0)
    try:
        bank, fees, payables = open_and_fund(db, 4_000)
        tallies = run_writers(db, threads=4, transfers=100, fees=fees, payables=payables)
        check_outcome(db, tallies, 4_000, bank, fees, payables)
    finally:
        db.dispose()


@pytest.mark.parametrize("url_fixture", ["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)])
def test_same_key_posted_by_many_writers_at_once_is_written_once(request, url_fixture):
    db = Database(request.getfixturevalue(url_fixture), pool_size=8, max_overflow=0)
    try:
        bank, _, payables = open_and_fund(db, 20_000)
        ids, errors = [], []
        start = threading.Barrier(8)

        def writer() -> None:
            start.wait()
            try:
                with db.engine.begin() as conn:
                    ids.append(post(conn, transfer("retry-storm", payables[0], bank, 5_000)).id)
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        workers = [threading.Thread(target=writer) for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        assert not errors, errors
        assert len(ids) == 8 and len(set(ids)) == 1
        with db.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(TXNS).where(TXNS.c.idempotency_key == "retry-storm")) == 1
            assert conn.scalar(select(ACCOUNTS.c.debits_posted).where(ACCOUNTS.c.id == payables[0])) == 5_000
    finally:
        db.dispose()
