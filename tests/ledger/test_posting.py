"""posting.py against real databases: what is stored, all-or-none batches, expiry, verify."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update

from juhe.db.engine import Database
from juhe.db.models import Account, LedgerEntry, LedgerTransaction
from juhe.db.types import utcnow
from juhe.ledger import posting
from juhe.ledger import (
    Capture,
    Entry,
    LedgerError,
    Post,
    Reverse,
    Void,
    balance_of,
    expire_holds,
    open_account,
    post_many,
    transfer,
    verify_ledger,
)

ACCOUNTS = Account.__table__
TXNS = LedgerTransaction.__table__
ENTRIES = LedgerEntry.__table__
NOW = utcnow()


@pytest.fixture(params=["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)], ids=["sqlite", "postgres"])
def db(request):
    database = Database(request.getfixturevalue(request.param))
    yield database
    database.dispose()


class Chart:
    """A merchant's CNY and USD payables (no overdraft), the bank in both currencies, fee revenue."""

    def __init__(self, db: Database):
        with db.engine.begin() as conn:
            self.shop = open_account(conn, "payable:shop", "CNY", no_overdraft=True)
            self.shop_usd = open_account(conn, "payable:shop", "USD", no_overdraft=True)
            self.bank = open_account(conn, "bank:main", "CNY")
            self.bank_usd = open_account(conn, "bank:main", "USD")
            self.fees = open_account(conn, "revenue:fees", "CNY")


@pytest.fixture
def chart(db) -> Chart:
    return Chart(db)


def write(db: Database, *commands, now=NOW):
    with db.engine.begin() as conn:
        return post_many(conn, commands, now)


def rejected(db: Database, *commands, now=NOW) -> list[str]:
    with pytest.raises(LedgerError) as caught:
        write(db, *commands, now=now)
    return [p.code for p in caught.value.problems]


def snapshot(db: Database) -> tuple:
    """Everything the ledger stores: counts and every account's four balance columns."""
    with db.engine.connect() as conn:
        balances = conn.execute(
            select(ACCOUNTS.c.id, ACCOUNTS.c.debits_posted, ACCOUNTS.c.credits_posted,
                   ACCOUNTS.c.debits_pending, ACCOUNTS.c.credits_pending).order_by(ACCOUNTS.c.id)
        ).all()
        return (
            conn.scalar(select(func.count()).select_from(TXNS)),
            conn.scalar(select(func.count()).select_from(ENTRIES)),
            [tuple(r) for r in balances],
        )


def balance(db: Database, account_id):
    with db.engine.connect() as conn:
        return balance_of(conn.execute(select(ACCOUNTS).where(ACCOUNTS.c.id == account_id)).one())


def verify(db: Database):
    with db.engine.connect() as conn:
        return verify_ledger(conn)


def fund(db: Database, chart: Chart, amount: int = 10_000, key: str = "fund"):
    return write(db, transfer(key, chart.bank, chart.shop, amount))[0]


# --- post and replay ------------------------------------------------------------------------


def test_post_then_replay_returns_the_same_transaction_and_writes_once(db, chart):
    first = fund(db, chart, 10_000)
    stored = snapshot(db)
    again = fund(db, chart, 10_000)
    assert (again.id, again.kind, again.status, again.replayed) == (first.id, "posting", "posted", True)
    assert snapshot(db) == stored
    assert balance(db, chart.shop).posted.amount_minor == 10_000


def test_replay_of_a_stored_capture_returns_its_entries_and_hold(db, chart):
    # A retried request must get the answer the first call got, not a hollow copy.
    fund(db, chart, 10_000)
    [held] = write(db, transfer("hold", chart.shop, chart.fees, 300, pending=True, expires_at=NOW + timedelta(hours=1)))
    [captured] = write(db, Capture("capture", held.id, 200))
    [again] = write(db, Capture("capture", held.id, 200))
    assert again.replayed
    assert (again.id, again.hold_id) == (captured.id, held.id)
    assert sorted((e.account_id, e.amount_minor) for e in again.entries) == sorted(
        (e.account_id, e.amount_minor) for e in captured.entries
    )


def test_replay_of_a_stored_hold_returns_its_expiry_description_and_metadata(db, chart):
    fund(db, chart, 10_000)
    command = transfer(
        "hold", chart.shop, chart.fees, 300, pending=True, expires_at=NOW + timedelta(hours=1),
        description="pre-authorisation", metadata={"order": "o-1"},
    )
    [held] = write(db, command)
    [again] = write(db, command)
    assert again.replayed
    assert (again.id, again.kind, again.status) == (held.id, "hold", "pending")
    assert (again.expires_at, again.description, again.metadata) == (held.expires_at, "pre-authorisation", {"order": "o-1"})


def test_same_key_with_other_content_is_rejected_and_writes_nothing(db, chart):
    fund(db, chart, 10_000)
    stored = snapshot(db)
    assert rejected(db, transfer("fund", chart.bank, chart.shop, 10_001)) == ["idempotency_key_reused"]
    assert snapshot(db) == stored


def test_replay_within_a_batch_writes_one_transaction(db, chart):
    first, again = write(db, transfer("f", chart.bank, chart.shop, 5), transfer("f", chart.bank, chart.shop, 5))
    assert again.id == first.id and again.replayed
    assert snapshot(db)[:2] == (1, 2)


# --- all or none ----------------------------------------------------------------------------


def test_batch_with_one_overdraft_writes_nothing_even_if_the_caller_commits(db, chart):
    fund(db, chart, 1_000)
    stored = snapshot(db)
    batch = [
        transfer("a", chart.bank, chart.shop, 500),
        transfer("b", chart.shop, chart.fees, 1_400),
        transfer("c", chart.shop, chart.fees, 200),  # after a and b the shop has 100 left
        transfer("d", chart.bank_usd, chart.shop_usd, 100),
    ]
    with db.engine.begin() as conn:
        with pytest.raises(LedgerError) as caught:
            post_many(conn, batch, NOW)
        # The caller swallows the error and commits: still nothing may have been written.
    assert [(p.index, p.code) for p in caught.value.problems] == [(2, "insufficient_funds")]
    assert snapshot(db) == stored


def test_failure_after_the_rows_are_written_leaves_nothing_behind(db, chart, monkeypatch):
    # The database fails after the transactions and entries went in, before the balances:
    # the caller's transaction must take all of it back.
    def fail(*_args):
        raise RuntimeError("connection lost")

    fund(db, chart, 1_000)
    stored = snapshot(db)
    monkeypatch.setattr(posting, "_store_balances", fail)
    with pytest.raises(RuntimeError, match="connection lost"):
        write(db, transfer("a", chart.bank, chart.shop, 500), transfer("b", chart.shop, chart.fees, 700))
    assert snapshot(db) == stored
    assert verify(db).ok


def test_amount_beyond_bigint_is_a_ledger_error(db, chart):
    # The rules refuse what the columns cannot hold, with a problem code, instead of handing
    # the database an int it fails on (OverflowError / NumericValueOutOfRange).
    stored = snapshot(db)
    with pytest.raises(LedgerError) as caught:
        write(db, transfer("a", chart.bank, chart.shop, 500), transfer("b", chart.bank, chart.fees, 2**63))
    assert {(p.index, p.code) for p in caught.value.problems} == {(1, "invalid_amount")}
    assert snapshot(db) == stored


def test_balance_beyond_bigint_is_a_ledger_error(db, chart):
    write(db, transfer("a", chart.bank, chart.fees, 2**63 - 1))
    assert rejected(db, transfer("b", chart.bank, chart.fees, 1)) == ["balance_overflow"]
    assert verify(db).ok


# --- stored balances equal the entries ------------------------------------------------------


def test_balances_equal_entries_after_a_mixed_workload(db, chart):
    later = NOW + timedelta(hours=1)
    fund(db, chart, 10_000)
    write(db, transfer("usd", chart.bank_usd, chart.shop_usd, 700))
    write(  # a conversion: 7.20 CNY of the shop's balance becomes 1.00 USD
        db, Post("fx", (Entry(chart.shop, 720), Entry(chart.bank, -720), Entry(chart.bank_usd, 100), Entry(chart.shop_usd, -100)))
    )
    [h1, h2, h3] = write(
        db,
        *(transfer(f"h{i}", chart.shop, chart.fees, 1_000 * i, pending=True, expires_at=later) for i in (1, 2, 3)),
    )
    write(db, Capture("c1", h1.id, 400), Void("v2", h2.id))
    [fee] = write(db, transfer("fee", chart.shop, chart.fees, 150))
    write(db, Reverse("r-fee", fee.id))
    assert rejected(db, transfer("too-much", chart.shop, chart.fees, 10_000)) == ["insufficient_funds"]
    fund(db, chart, 10_000)  # replay

    report = verify(db)
    assert report.ok, report.problems
    assert report.totals_by_currency == {"CNY": 0, "USD": 0}
    assert _balances_from_entries(db) == _stored_balances(db)
    shop = balance(db, chart.shop)
    assert shop.posted.amount_minor == 10_000 - 720 - 400 - 150 + 150
    assert shop.pending_debits.amount_minor == 3_000  # h3 still held
    assert shop.available.amount_minor == shop.posted.amount_minor - 3_000
    assert balance(db, chart.shop_usd).posted.amount_minor == 800
    assert balance(db, chart.fees).posted.amount_minor == 400


def _stored_balances(db: Database) -> dict:
    return {row[0]: tuple(row[1:]) for row in snapshot(db)[2]}


def _balances_from_entries(db: Database) -> dict:
    """Recompute every balance in Python from the raw rows, independently of verify.py."""
    with db.engine.connect() as conn:
        accounts = conn.scalars(select(ACCOUNTS.c.id)).all()
        rows = conn.execute(
            select(ENTRIES.c.account_id, ENTRIES.c.amount_minor, TXNS.c.kind, TXNS.c.status).join(
                TXNS, TXNS.c.id == ENTRIES.c.transaction_id
            )
        ).all()
    sums = {a: [0, 0, 0, 0] for a in accounts}
    for account_id, amount, kind, status in rows:
        if kind == "hold" and status != "pending":
            continue
        column = (0 if amount > 0 else 1) + (2 if kind == "hold" else 0)
        sums[account_id][column] += abs(amount)
    return {a: tuple(v) for a, v in sums.items()}


# --- state that must survive a commit -------------------------------------------------------


def test_reversal_and_hold_state_are_read_back_from_the_database(db, chart):
    fund(db, chart, 10_000)
    [fee] = write(db, transfer("fee", chart.shop, chart.fees, 150))
    [held] = write(db, transfer("h", chart.shop, chart.fees, 500, pending=True, expires_at=NOW + timedelta(hours=1)))
    write(db, Reverse("r1", fee.id))
    write(db, Capture("c1", held.id, 100))
    assert rejected(db, Reverse("r2", fee.id)) == ["already_reversed"]
    assert rejected(db, Capture("c2", held.id, 100)) == ["hold_not_pending"]
    assert rejected(db, Void("v1", held.id)) == ["hold_not_pending"]
    assert rejected(db, Reverse("r3", held.id)) == ["not_reversible"]
    with db.engine.connect() as conn:
        assert conn.scalar(select(TXNS.c.status).where(TXNS.c.id == held.id)) == "captured"


def test_capture_after_expiry_is_rejected_by_stored_expiry(db, chart):
    fund(db, chart, 10_000)
    expires = NOW + timedelta(minutes=5)
    [held] = write(db, transfer("h", chart.shop, chart.fees, 500, pending=True, expires_at=expires))
    assert rejected(db, Capture("c1", held.id), now=expires) == ["hold_expired"]
    write(db, Capture("c1", held.id), now=expires - timedelta(seconds=1))


def test_hold_reduces_available_but_not_posted_balance(db, chart):
    fund(db, chart, 1_000)
    write(db, transfer("h", chart.shop, chart.fees, 600, pending=True, expires_at=NOW + timedelta(hours=1)))
    shop = balance(db, chart.shop)
    assert (shop.posted.amount_minor, shop.available.amount_minor) == (1_000, 400)
    assert rejected(db, transfer("t", chart.shop, chart.fees, 401)) == ["insufficient_funds"]


# --- expiry sweep ---------------------------------------------------------------------------


def test_expire_holds_voids_expired_holds_and_frees_pending_balance(db, chart):
    fund(db, chart, 1_000)
    soon, later = NOW + timedelta(minutes=1), NOW + timedelta(hours=1)
    [h1, h2, h3] = write(
        db,
        transfer("h1", chart.shop, chart.fees, 300, pending=True, expires_at=soon),
        transfer("h2", chart.shop, chart.fees, 300, pending=True, expires_at=soon + timedelta(seconds=1)),
        transfer("h3", chart.shop, chart.fees, 300, pending=True, expires_at=later),
    )
    assert rejected(db, transfer("t", chart.shop, chart.fees, 200)) == ["insufficient_funds"]
    sweep_at = soon + timedelta(minutes=1)
    with db.engine.begin() as conn:
        assert expire_holds(conn, sweep_at) == 2
    with db.engine.begin() as conn:
        assert expire_holds(conn, sweep_at) == 0
        statuses = dict(conn.execute(select(TXNS.c.id, TXNS.c.status).where(TXNS.c.id.in_([h1.id, h2.id, h3.id]))).all())
    assert statuses == {h1.id: "expired", h2.id: "expired", h3.id: "pending"}
    shop = balance(db, chart.shop)
    assert (shop.pending_debits.amount_minor, shop.available.amount_minor) == (300, 700)
    assert balance(db, chart.fees).pending_credits.amount_minor == 300
    write(db, transfer("t", chart.shop, chart.fees, 700), now=sweep_at)
    assert rejected(db, Capture("c", h1.id), now=sweep_at) == ["hold_not_pending"]
    assert verify(db).ok


# --- verify finds every problem -------------------------------------------------------------


def test_verify_ledger_reports_each_problem_not_just_the_first(db, chart):
    fund(db, chart, 1_000)
    [fee] = write(db, transfer("fee", chart.shop, chart.fees, 100))
    write(db, transfer("usd", chart.bank_usd, chart.shop_usd, 50))
    assert verify(db).ok
    with db.engine.begin() as conn:
        # A balance changed behind the ledger's back …
        conn.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == chart.bank).values(credits_posted=ACCOUNTS.c.credits_posted + 7))
        # … an entry slipped into a posted transaction …
        conn.execute(insert(ENTRIES).values(transaction_id=fee.id, account_id=chart.fees, currency="CNY", amount_minor=-5))
        # … and an account that forbids overdraft pushed below zero (and out of step with its entries).
        conn.execute(update(ACCOUNTS).where(ACCOUNTS.c.id == chart.shop_usd).values(debits_posted=51))
    report = verify(db)
    text = "\n".join(report.problems)
    assert not report.ok
    assert any(str(chart.bank) in p and "entries say" in p for p in report.problems), text
    assert any(str(fee.id) in p and "does not balance" in p for p in report.problems), text
    assert any(str(chart.fees) in p and "entries say" in p for p in report.problems), text
    assert any(str(chart.shop_usd) in p and "overdrawn" in p for p in report.problems), text
    assert any("CNY" in p and "sum to -5" in p for p in report.problems), text
    assert report.totals_by_currency == {"CNY": -5, "USD": 0}


def test_verify_ledger_reports_a_posting_without_entries(db, chart):
    ghost = uuid.uuid4()
    with db.engine.begin() as conn:
        conn.execute(
            insert(TXNS).values(
                id=ghost, idempotency_key="ghost", content_hash="0" * 32, kind="posting", status="posted",
                description="", created_at=NOW,
            )
        )
    report = verify(db)
    assert report.problems == [f"transaction {ghost} (posting) has 0 entries"]
