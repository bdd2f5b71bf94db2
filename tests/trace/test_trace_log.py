"""The log in the database (SQLite and PostgreSQL): one sequence under concurrent appenders, roots
and inclusion proofs that an independent RFC 9162 implementation (pymerkle) accepts, and
ingestion of ledger transactions, recorded once however often they are read."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from pymerkle import InmemoryTree
from pymerkle.core import _inclusion_path_layout
from pymerkle.proof import InclusionProof
from sqlalchemy import func, select, update

from juhe.db.engine import Database
from juhe.db.models import LedgerEntry
from juhe.db.types import utcnow
from juhe.ledger import open_account, post_many, transfer
from juhe.settlement.models import ReserveProofRow
from juhe.trace import ingest, log, merkle, proofs
from juhe.trace.models import TraceEntry

NOW = utcnow()


@pytest.fixture(params=["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)], ids=["sqlite", "postgres"])
def db(request):
    database = Database(request.getfixturevalue(request.param))
    yield database
    database.dispose()


def events(n: int, start: int = 0, source: str | None = "test") -> list[log.Event]:
    return [log.Event(kind="payment", object_id=f"pay_{i}", event="succeeded", at=NOW + timedelta(seconds=i),
                      facts={"amount_minor": 100 + i, "currency": "CNY", "subject": "绿茶"},
                      source=source, source_key=str(i) if source else None) for i in range(start, start + n)]


def append(db: Database, batch: list[log.Event]) -> int:
    with db.session() as session, session.begin():
        return log.append(session, batch)


def leaves(db: Database) -> list[bytes]:
    with db.reader() as session:
        return [data.encode() for data in session.scalars(select(TraceEntry.data).order_by(TraceEntry.leaf_index))]


def pymerkle_accepts(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """pymerkle's own verifier; the proof's shape (left/right at each level) comes from pymerkle's layout."""
    rule, _ranges = _inclusion_path_layout(index + 1, size)  # pymerkle counts leaves from 1
    proof = InclusionProof("sha256", True, size, index + 1, rule, [merkle.leaf_hash(leaf), *path])
    try:
        proof.verify(merkle.leaf_hash(leaf), root)
    except Exception:  # noqa: BLE001 -- pymerkle raises InvalidProof (and ValueError on bad shapes)
        return False
    return True


def test_roots_and_inclusion_proofs_verify_with_pymerkle(db):
    for size, start in ((1, 0), (6, 1), (13, 7), (1, 20), (16, 21)):  # batches of odd sizes: 37 leaves
        assert append(db, events(size, start)) == size
    data = leaves(db)
    independent = InmemoryTree(algorithm="sha256")
    for leaf in data:
        independent.append_entry(leaf)
    with db.reader() as session:
        assert log.tree_size(session) == 37
        for size in range(1, 38):
            root = log.root_at(session, size)
            assert root == independent.get_root(size)
            for index in range(size):
                path = log.inclusion_proof(session, index, size)
                assert pymerkle_accepts(index, size, data[index], path, root)
                assert not pymerkle_accepts(index, size, data[index] + b" ", path, root)  # an edited record fails
        for first in range(1, 38):
            proof = log.consistency_proof(session, first, 37)
            assert merkle.verify_consistency(first, 37, independent.get_root(first), independent.get_root(37), proof)


def test_an_event_read_again_is_recorded_once(db):
    assert append(db, events(5)) == 5
    assert append(db, events(8)) == 3  # 0–4 known by their source key; 5–7 new
    assert append(db, events(2, source=None)) == 2  # no source: nothing to deduplicate on
    with db.reader() as session:
        assert log.tree_size(session) == 10
        assert session.scalar(select(func.max(TraceEntry.leaf_index))) == 9


def test_concurrent_appenders_share_one_sequence(db):
    errors: list[BaseException] = []

    def appender(worker: int) -> None:
        try:
            for batch in range(10):
                append(db, events(20, start=worker * 1_000 + batch * 20))
        except BaseException as e:  # noqa: BLE001 -- reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=appender, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    data = leaves(db)
    assert len(data) == 800
    frontier, _ = merkle.append(merkle.EMPTY, [merkle.leaf_hash(leaf) for leaf in data])
    with db.reader() as session:
        assert session.scalar(select(func.count(func.distinct(TraceEntry.leaf_index)))) == 800
        assert log.root_at(session, 800) == frontier.root()


def test_bad_tree_sizes_are_refused_with_a_code(db):
    append(db, events(3))
    with db.reader() as session:
        for call, code in ((lambda: log.root_at(session, 4), "tree_size_out_of_range"),
                           (lambda: log.inclusion_proof(session, 3, 3), "leaf_not_in_tree"),
                           (lambda: log.inclusion_proof(session, 0, 9), "tree_size_out_of_range"),
                           (lambda: log.consistency_proof(session, 0, 3), "invalid_tree_sizes"),
                           (lambda: log.consistency_proof(session, 3, 2), "invalid_tree_sizes")):
            with pytest.raises(log.TraceError) as caught:
                call()
            assert caught.value.code == code


def test_ingestion_records_each_ledger_transaction_once_with_its_entries(db, monkeypatch):
    monkeypatch.setattr(ingest, "LOOKBACK_ROWS", 1)  # small batches: the cursor and its look-back are exercised
    with db.engine.begin() as conn:
        shop = open_account(conn, "payable:shop", "CNY")
        bank = open_account(conn, "bank:main", "CNY")
    for round_no in range(3):
        with db.engine.begin() as conn:
            post_many(conn, [transfer(f"t{round_no}-{i}", bank, shop, 100 * (i + 1)) for i in range(4)])
        ingest.ingest(db, limit=3)
    ingest.ingest(db, limit=3)
    with db.reader() as session:
        rows = session.scalars(select(TraceEntry).where(TraceEntry.kind == "ledger_transaction")
                               .order_by(TraceEntry.leaf_index)).all()
    assert len(rows) == 12
    assert len({row.object_id for row in rows}) == 12
    assert all('"entries":[["bank:main","CNY",' in row.data for row in rows)
    assert [row.leaf_index for row in rows] == list(range(12))


def reserve_proof(day: int, at, ok: bool = True) -> ReserveProofRow:
    return ReserveProofRow(day=date(2026, 10, day), currency="CNY", reserve_account="reserve:icbc", statement_id=f"stmt-{day}",
                           liabilities_minor=1_000_00, in_transit_minor=0, ledger_reserve_minor=1_000_00,
                           bank_balance_minor=1_000_00 if ok else 999_00, difference_minor=0 if ok else 1_00,
                           coverage_minor=0, ok=ok, created_at=at, updated_at=at)


def test_each_state_of_a_changing_row_and_a_late_commit_are_recorded(db):
    with db.session() as session, session.begin():
        first = reserve_proof(1, NOW)
        session.add_all([first, reserve_proof(2, NOW + timedelta(seconds=1))])
    assert ingest.ingest(db) == 2
    with db.session() as session, session.begin():
        session.get(ReserveProofRow, first.id).ok = False  # a rerun replaced the proof: a new state
        session.get(ReserveProofRow, first.id).updated_at = NOW + timedelta(seconds=2)
        session.add(reserve_proof(3, NOW - timedelta(seconds=5)))  # committed after a later row was read
    assert ingest.ingest(db) == 2
    assert ingest.ingest(db) == 0
    with db.reader() as session:
        states = session.execute(select(TraceEntry.object_id, TraceEntry.event).where(TraceEntry.kind == "reserve_proof")
                                 .order_by(TraceEntry.leaf_index)).all()
    assert [event for _id, event in states] == ["ok", "ok", "ok", "mismatch"]
    assert [object_id for object_id, _event in states].count(str(first.id)) == 2


def test_a_ledger_row_edited_after_it_was_logged_is_found(db):
    with db.engine.begin() as conn:
        shop = open_account(conn, "payable:shop", "CNY")
        bank = open_account(conn, "bank:main", "CNY")
        posted = post_many(conn, [transfer(f"edit-{i}", bank, shop, 100) for i in range(3)])
    ingest.ingest(db)
    with db.reader() as session:
        assert proofs.verify_database(session).problems == []
        index = session.scalar(select(TraceEntry.leaf_index).where(TraceEntry.object_id == str(posted[1].id)))
    with db.session() as session, session.begin():  # both legs, so that the ledger itself still balances
        session.execute(update(LedgerEntry).where(LedgerEntry.transaction_id == posted[1].id)
                        .values(amount_minor=LedgerEntry.amount_minor * 10))
    with db.reader() as session:
        check = proofs.verify_database(session)
    assert check.first_bad_leaf == index
    assert check.problems == [f"leaf {index}: ledger_transactions row {posted[1].id} no longer says what was logged (edited)"]
