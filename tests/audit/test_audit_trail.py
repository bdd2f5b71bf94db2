"""The audit trail's hash chain on SQLite and PostgreSQL: one order under concurrent writers, and
`juhe audit verify` finds an edited record, a deleted one, and deleted newest records."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import delete, update
from typer.testing import CliRunner

from juhe.audit import trail
from juhe.audit.models import AuditRecord
from juhe.cli import app
from juhe.config import get_settings
from juhe.db.engine import Database


@pytest.fixture(params=["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)], ids=["sqlite", "postgres"])
def db(request, monkeypatch):
    url = request.getfixturevalue(request.param)
    monkeypatch.setenv("JUHE_DATABASE_URL", url)
    get_settings.cache_clear()
    database = Database(url)
    yield database
    database.dispose()
    get_settings.cache_clear()


def change(n: int) -> trail.Record:
    return trail.Record(actor="api_key:k1", action="POST /v1/accounts", outcome="succeeded", origin="api:10.0.0.7",
                        object_type="accounts", object_id=f"acc_{n}", status_code=201, detail={"n": n})


def verify_cli() -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["audit", "verify", "--json"])
    return result.exit_code, json.loads(result.output)


def fill(db: Database, n: int) -> None:
    buffer = trail.AuditBuffer()
    for i in range(n):
        buffer.add(change(i))
    assert buffer.flush(db) == n


def test_concurrent_writers_make_one_unbroken_chain(db):
    def writer(w: int) -> None:
        for i in range(15):
            trail.record_now(db, change(w * 100 + i))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verify_cli() == (0, {"ok": True, "records": 60, "first_bad_id": None, "problems": []})


def test_an_edited_record_is_found(db):
    fill(db, 12)
    with db.session() as session, session.begin():
        session.execute(update(AuditRecord).where(AuditRecord.id == 7).values(outcome="failed:forbidden"))
    code, report = verify_cli()
    assert code == 1 and report["first_bad_id"] == 7
    assert report["problems"] == ["record 7 was edited: its fields do not hash to its stored hash"]


def test_a_deleted_record_and_deleted_newest_records_are_found(db):
    fill(db, 12)
    with db.session() as session, session.begin():
        session.execute(delete(AuditRecord).where(AuditRecord.id == 5))
    code, report = verify_cli()
    assert code == 1 and report["first_bad_id"] == 5 and "records 5–5 are missing (deleted)" in report["problems"]
    with db.session() as session, session.begin():
        session.execute(delete(AuditRecord).where(AuditRecord.id >= 5))
    code, report = verify_cli()
    assert code == 1 and report["records"] == 4
    assert report["problems"] == ["the chain ends at record 4, its head says 12 (newest deleted?)"]


def test_a_failed_flush_keeps_the_records_in_order(db, monkeypatch):
    buffer = trail.AuditBuffer()
    for i in range(3):
        buffer.add(change(i))
    real = trail.append
    monkeypatch.setattr(trail, "append", lambda *_: (_ for _ in ()).throw(RuntimeError("database went away")))
    with pytest.raises(RuntimeError):
        buffer.flush(db)
    monkeypatch.setattr(trail, "append", real)
    buffer.add(change(3))
    assert buffer.flush(db) == 4
    with db.reader() as session:
        assert [r.object_id for r in session.query(AuditRecord).order_by(AuditRecord.id)] == ["acc_0", "acc_1", "acc_2", "acc_3"]
