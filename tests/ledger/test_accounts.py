"""Account ids are remembered per engine once they are known to be committed."""

from __future__ import annotations

from sqlalchemy import func, select

from juhe.db.engine import Database
from juhe.ledger import ensure_account
from juhe.ledger.accounts import ACCOUNTS


def test_an_account_opened_in_a_transaction_that_rolls_back_is_opened_again(sqlite_url):
    db = Database(sqlite_url)
    with db.session() as session, session.begin():
        conn = session.connection()
        phantom = ensure_account(conn, "reserve:bank", "CNY", owner_type="platform")
        assert ensure_account(conn, "reserve:bank", "CNY") == phantom  # seen by its own transaction
        session.rollback()
    with db.session() as session, session.begin():
        conn = session.connection()
        opened = ensure_account(conn, "reserve:bank", "CNY", owner_type="platform")
        assert opened != phantom
    with db.session() as session, session.begin():
        conn = session.connection()
        assert ensure_account(conn, "reserve:bank", "CNY") == opened
        assert conn.scalar(select(func.count()).select_from(ACCOUNTS)) == 1
