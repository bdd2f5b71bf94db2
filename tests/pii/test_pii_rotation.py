"""`juhe keys rotate`: a new master version seals from then on, older values are re-wrapped in
batches while they keep opening, and a value the application rewrites meanwhile is not overwritten."""

from __future__ import annotations

import json

from sqlalchemy import select, text
from typer.testing import CliRunner

from juhe.cli import app
from juhe.db.engine import Database
from juhe.pii import envelope, keyring, rotation, values
from juhe.settlement.models import SettlementProfile
from juhe.transfers.models import TransferItem

from .test_pii_at_rest import ACCOUNTS, NAMES, PAYOUT, seed

runner = CliRunner()


def versions(db: Database) -> dict:
    with db.reader() as session:
        return dict(rotation.versions_in_use(session))


def invoke(*args: str):
    return runner.invoke(app, ["keys", *args])


def test_rotate_rewraps_every_value_in_batches_and_everything_still_opens(sqlite_url, keyring_file):
    db = Database(sqlite_url)
    merchant_id, _ = seed(db)
    before = versions(db)
    assert {v for _, v in before} == {1}
    done = invoke("rotate", "--database-url", sqlite_url, "--keyring", str(keyring_file), "--batch-size", "1", "--json")
    assert done.exit_code == 0, done.output
    figures = json.loads(done.output)
    assert figures["primary"] == 2 and figures["rewrapped"] == sum(before.values()) == 8  # 2 items × 2, a document, a profile's 2, a user
    assert figures["per_column"]["transfer_items.creditor_account"] == 2
    assert figures["batches"] >= figures["rewrapped"]  # one value per transaction at --batch-size 1
    assert {v for _, v in versions(db)} == {2}
    with db.reader() as session:
        rows = session.scalars(select(TransferItem).order_by(TransferItem.line)).all()
        assert [(r.creditor_name, r.creditor_account) for r in rows] == list(zip(NAMES, ACCOUNTS))
        assert session.get(SettlementProfile, merchant_id).payout_account == PAYOUT[1]
    db.dispose()


def test_the_old_version_opens_until_the_rewrap_and_new_writes_use_the_new_one(sqlite_url, keyring_file):
    db = Database(sqlite_url)
    seed(db)
    keyring.save(keyring_file, keyring.active().with_new_version())  # rotated, not yet re-wrapped
    with db.reader() as session:
        assert session.scalars(select(TransferItem).order_by(TransferItem.line)).first().creditor_name == NAMES[0]
    assert values.seal("new", "t", "c", "r")[:1] == bytes((envelope.FORMAT,))
    assert envelope.read_header(values.seal("new", "t", "c", "r")).version == 2
    status = json.loads(invoke("status", "--database-url", sqlite_url, "--keyring", str(keyring_file), "--json").output)
    assert status["primary"] == 2 and {row["version"] for row in status["values"]} == {1}
    again = json.loads(invoke("rewrap", "--database-url", sqlite_url, "--keyring", str(keyring_file), "--json").output)
    assert again["primary"] == 2 and again["rewrapped"] == sum(row["count"] for row in status["values"])
    assert json.loads(invoke("rewrap", "--database-url", sqlite_url, "--keyring", str(keyring_file), "--json").output)["rewrapped"] == 0
    db.dispose()


def test_a_value_rewritten_during_the_pass_is_left_as_the_application_wrote_it(sqlite_url, keyring_file):
    db = Database(sqlite_url)
    _, (first, _) = seed(db)
    newer = keyring.active().with_new_version()
    keyring.save(keyring_file, newer)
    with db.engine.connect() as conn:
        stale = conn.execute(text("select creditor_name from transfer_items where line = 1")).scalar()
    with db.session() as session, session.begin():  # the application writes between the pass's read and its update
        session.get(TransferItem, first).creditor_name = "张三丰"
    report = rotation.RewrapReport(newer.primary)
    with db.session() as session, session.begin():
        rotation._rewrap_one(session, newer, TransferItem.__table__, "id", "creditor_name", first, envelope.Sealed(stale), report)
    assert (report.rewrapped, report.changed_meanwhile) == (0, 1)
    with db.reader() as session:
        assert session.get(TransferItem, first).creditor_name == "张三丰"
    db.dispose()


def test_a_bad_batch_size_or_keyring_is_refused_and_adds_no_version(sqlite_url, keyring_file):
    db = Database(sqlite_url)
    seed(db)
    refused = invoke("rotate", "--database-url", sqlite_url, "--keyring", str(keyring_file), "--batch-size", "0")
    assert refused.exit_code == 1 and "batch size" in refused.output
    assert keyring.load(keyring_file).primary == 1
    keyring_file.write_text("not json")
    broken = invoke("rotate", "--database-url", sqlite_url, "--keyring", str(keyring_file))
    assert broken.exit_code == 1 and "not a readable keyring" in broken.output
    db.dispose()
