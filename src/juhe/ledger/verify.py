"""`juhe ledger verify`: one pass that collects every integrity problem, then reports them.

Proves, with aggregate queries so it stays fast on millions of entries:
every transaction balances per currency and has the entries its kind needs; every entry's
currency is its account's; every stored balance equals the sum of its entries; no account
that forbids overdraft is overdrawn; the grand total of posted entries per currency is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, and_, case, func, select

from juhe.ledger.posting import ACCOUNTS, ENTRIES, TXNS
from juhe.ledger.rules import AccountState

POSTED_KINDS = ("posting", "capture", "reversal")
PROBLEMS_SHOWN_MAX = 100


@dataclass
class VerifyReport:
    transactions: int = 0
    entries: int = 0
    accounts: int = 0
    totals_by_currency: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_ledger(conn: Connection) -> VerifyReport:
    report = VerifyReport(
        transactions=conn.scalar(select(func.count()).select_from(TXNS)),
        entries=conn.scalar(select(func.count()).select_from(ENTRIES)),
        accounts=conn.scalar(select(func.count()).select_from(ACCOUNTS)),
    )
    _check_transactions(conn, report)
    _check_currencies(conn, report)
    _check_balances(conn, report)
    _check_grand_total(conn, report)
    return report


def _problem(report: VerifyReport, text: str) -> None:
    if len(report.problems) < PROBLEMS_SHOWN_MAX:
        report.problems.append(text)


def _check_transactions(conn: Connection, report: VerifyReport) -> None:
    unbalanced = (
        select(ENTRIES.c.transaction_id, ENTRIES.c.currency, func.sum(ENTRIES.c.amount_minor))
        .group_by(ENTRIES.c.transaction_id, ENTRIES.c.currency)
        .having(func.sum(ENTRIES.c.amount_minor) != 0)
    )
    for txn_id, currency, total in conn.execute(unbalanced):
        _problem(report, f"transaction {txn_id} does not balance in {currency}: sum {total}")
    counts = (
        select(TXNS.c.id, TXNS.c.kind, func.count(ENTRIES.c.id))
        .select_from(TXNS.outerjoin(ENTRIES, ENTRIES.c.transaction_id == TXNS.c.id))
        .group_by(TXNS.c.id, TXNS.c.kind)
    )
    for txn_id, kind, count in conn.execute(counts):
        if (kind == "void") != (count == 0) or (kind != "void" and count < 2):
            _problem(report, f"transaction {txn_id} ({kind}) has {count} entries")


def _check_currencies(conn: Connection, report: VerifyReport) -> None:
    mismatched = select(ENTRIES.c.id, ENTRIES.c.currency, ACCOUNTS.c.currency).join(
        ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id
    ).where(ENTRIES.c.currency != ACCOUNTS.c.currency)
    for entry_id, entry_ccy, account_ccy in conn.execute(mismatched):
        _problem(report, f"entry {entry_id} is in {entry_ccy} on a {account_ccy} account")


def _check_balances(conn: Connection, report: VerifyReport) -> None:
    posted = TXNS.c.kind.in_(POSTED_KINDS)
    held = and_(TXNS.c.kind == "hold", TXNS.c.status == "pending")
    amount = ENTRIES.c.amount_minor

    def total(condition):
        return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)

    sums = (
        select(
            ENTRIES.c.account_id,
            total(and_(posted, amount > 0)),
            -total(and_(posted, amount < 0)),
            total(and_(held, amount > 0)),
            -total(and_(held, amount < 0)),
        )
        .join(TXNS, TXNS.c.id == ENTRIES.c.transaction_id)
        .group_by(ENTRIES.c.account_id)
    )
    from_entries = {row[0]: tuple(int(v) for v in row[1:]) for row in conn.execute(sums)}
    columns = (ACCOUNTS.c.id, ACCOUNTS.c.currency, ACCOUNTS.c.normal_side, ACCOUNTS.c.no_overdraft,
               ACCOUNTS.c.debits_posted, ACCOUNTS.c.credits_posted, ACCOUNTS.c.debits_pending, ACCOUNTS.c.credits_pending)
    for row in conn.execute(select(*columns)):
        state = AccountState(*row)
        stored = (state.debits_posted, state.credits_posted, state.debits_pending, state.credits_pending)
        expected = from_entries.get(state.id, (0, 0, 0, 0))
        if stored != expected:
            _problem(report, f"account {state.id} stores (dr, cr, dr pending, cr pending) {stored}, entries say {expected}")
        if state.overdrawn():
            _problem(report, f"account {state.id} forbids overdraft but is overdrawn")


def _check_grand_total(conn: Connection, report: VerifyReport) -> None:
    totals = (
        select(ENTRIES.c.currency, func.sum(ENTRIES.c.amount_minor))
        .join(TXNS, TXNS.c.id == ENTRIES.c.transaction_id)
        .where(TXNS.c.kind.in_(POSTED_KINDS))
        .group_by(ENTRIES.c.currency)
    )
    for currency, total in conn.execute(totals):
        report.totals_by_currency[currency] = int(total)
        if total != 0:
            _problem(report, f"posted entries in {currency} sum to {total}, not 0")


def verify_database(engine: Engine) -> VerifyReport:
    """`verify_ledger` over one snapshot of a database that may be live: on PostgreSQL a
    REPEATABLE READ transaction (under READ COMMITTED the entries and the balances would be read
    at two moments, and a posting between them would look like a broken ledger); SQLite's read
    transaction is a snapshot already."""
    options = {"sqlite_read_only": True}
    if engine.dialect.name == "postgresql":
        options |= {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        return verify_ledger(conn)
