"""`juhe ledger verify` on a live database: one snapshot, so postings made while it reads are
neither half-seen nor reported as a broken ledger."""

from __future__ import annotations

import threading
import uuid

import pytest

from juhe.db.engine import Database
from juhe.ledger import ensure_account, post, transfer, verify_database


@pytest.mark.parametrize("url", ["sqlite_url", "pg_url"])
def test_verify_while_postings_go_on_sees_one_consistent_ledger(request, url):
    db = Database(request.getfixturevalue(url))
    with db.session() as session, session.begin():
        conn = session.connection()
        source = ensure_account(conn, "reserve:bank", "CNY", owner_type="platform")
        target = ensure_account(conn, "equity:opening_balances", "CNY", owner_type="platform")
    stop = threading.Event()

    def keep_posting() -> None:
        while not stop.is_set():
            with db.session() as session, session.begin():
                post(session.connection(), transfer(f"live-{uuid.uuid4().hex}", source, target, 100))

    poster = threading.Thread(target=keep_posting)
    poster.start()
    try:
        reports = [verify_database(db.engine) for _ in range(20)]
    finally:
        stop.set()
        poster.join()
    assert all(report.ok for report in reports), [r.problems[:2] for r in reports if not r.ok]
    assert reports[-1].transactions > reports[0].transactions >= 0
    db.dispose()
