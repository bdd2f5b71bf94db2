"""Personal data is sealed in the tables: the SQLite file holds none of it, the ORM reads it back,
a blob moved to another row does not open, and nothing unsealed can be bound to a sealed column."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text, update
from sqlalchemy.exc import StatementError

from juhe.console.models import ConsoleUser
from juhe.db.engine import MIGRATIONS_DIR, Database
from juhe.db.models import Merchant
from juhe.pii.envelope import SealError
from juhe.pii.orm import blind_index_value
from juhe.settlement.models import SettlementProfile
from juhe.transfers.models import TransferBatch, TransferItem

NAMES = ("张三", "Shanghai Steel Co")
ACCOUNTS = ("6222020200112233445", "6222020200998877665")
PAYOUT = ("上海钢铁有限公司", "6217000010001234567")
OPERATOR = "王小明"
DOCUMENT = f"<Document><Nm>{NAMES[0]}</Nm><Id>{ACCOUNTS[0]}</Id></Document>".encode()


def seed(db: Database) -> tuple[uuid.UUID, list[uuid.UUID]]:
    with db.session() as session, session.begin():
        merchant = Merchant(name="Acme Retail", industry="retail")
        session.add(merchant)
        session.flush()
        batch = TransferBatch(merchant_id=merchant.id, idempotency_key="k1", request_hash="h", batch_no="B0000000001",
                              status="submitted", currency="CNY", total_minor=3, item_count=2, document=DOCUMENT, poll_count=0)
        session.add(batch)
        session.flush()
        items = [TransferItem(merchant_id=merchant.id, batch_id=batch.id, line=n, end_to_end_id=f"PAY-00{n}", amount_minor=n,
                              currency="CNY", creditor_name=name, creditor_account=account, remittance_info="",
                              execution_date=date(2026, 10, 9), status="pending", hold_id=uuid.uuid4())
                 for n, (name, account) in enumerate(zip(NAMES, ACCOUNTS), start=1)]
        session.add_all(items)
        session.add(SettlementProfile(merchant_id=merchant.id, cycle="T+1", split_by="merchant", timezone="Asia/Shanghai",
                                      cutoff="00:00", payout_name=PAYOUT[0], payout_account=PAYOUT[1], payout_bank="102290024433",
                                      currency="CNY"))
        session.add(ConsoleUser(merchant_id=merchant.id, login="wang", name=OPERATOR, role="finance", password_hash="x"))
    return merchant.id, [i.id for i in items]


def raw_bytes(db: Database, url: str) -> bytes:
    db.dispose()  # the last connection's close checkpoints the WAL into the file
    path = Path(url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_the_database_file_holds_no_name_account_or_document_in_the_clear(sqlite_url):
    db = Database(sqlite_url)
    seed(db)
    raw = raw_bytes(db, sqlite_url)
    assert b"PAY-001" in raw and "Acme Retail".encode() in raw  # the scan sees what is stored in the clear
    for plain in (*NAMES, *ACCOUNTS, *PAYOUT, OPERATOR):
        assert plain.encode() not in raw, plain
        assert plain.encode("utf-16-le") not in raw
    assert DOCUMENT not in raw and b"<Document>" not in raw


def test_the_orm_reads_plaintext_back_and_finds_an_account_by_its_blind_index(sqlite_url):
    db = Database(sqlite_url)
    merchant_id, _ = seed(db)
    wanted = blind_index_value(TransferItem, "creditor_account", "6222 0202 0099 8877 665")
    with db.reader() as session:
        found = session.scalars(select(TransferItem).where(TransferItem.creditor_account_index == wanted)).one()
        assert (found.creditor_name, found.creditor_account) == (NAMES[1], ACCOUNTS[1])
        assert session.scalars(select(TransferBatch)).one().document == DOCUMENT
        profile = session.get(SettlementProfile, merchant_id)
        assert (profile.payout_name, profile.payout_account) == PAYOUT
        assert session.scalars(select(ConsoleUser)).one().name == OPERATOR
    db.dispose()


def test_a_changed_value_is_sealed_again_and_an_unchanged_one_left_alone(sqlite_url):
    db = Database(sqlite_url)
    merchant_id, (first, second) = seed(db)
    with db.engine.connect() as conn:
        before = conn.execute(text("select creditor_account from transfer_items where end_to_end_id = 'PAY-002'")).scalar()
    with db.session() as session, session.begin():
        item = session.get(TransferItem, first)
        item.creditor_name = "张三丰"
        session.get(TransferItem, second).status = "settled"
    with db.reader() as session:
        assert session.get(TransferItem, first).creditor_name == "张三丰"
        assert session.get(TransferItem, second).creditor_account == ACCOUNTS[1]
    with db.engine.connect() as conn:
        after = conn.execute(text("select creditor_account from transfer_items where end_to_end_id = 'PAY-002'")).scalar()
    assert after == before
    db.dispose()


def test_a_blob_copied_into_another_row_does_not_open(sqlite_url):
    db = Database(sqlite_url)
    _, (first, second) = seed(db)
    with db.engine.begin() as conn:  # what someone with write access to the table might try
        conn.execute(text("update transfer_items set creditor_account = (select creditor_account from transfer_items "
                          "where end_to_end_id = 'PAY-001') where end_to_end_id = 'PAY-002'"))
    with db.reader() as session:
        assert session.get(TransferItem, first).creditor_account == ACCOUNTS[0]
        with pytest.raises(SealError, match="transfer_items/creditor_account"):
            session.get(TransferItem, second)
    db.dispose()


def test_plaintext_bound_to_a_sealed_column_outside_the_orm_is_refused(sqlite_url):
    db = Database(sqlite_url)
    seed(db)
    with pytest.raises(StatementError, match="plaintext personal data"):
        with db.engine.begin() as conn:
            conn.execute(update(TransferItem).values(creditor_name="李四"))
    db.dispose()


def alembic(conn) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def test_the_migration_seals_the_rows_written_before_it_and_its_downgrade_opens_them(sqlite_url):
    db = Database(sqlite_url)
    merchant_id, _ = seed(db)
    with db.engine.begin() as conn:
        command.downgrade(alembic(conn), "0017")
        assert conn.execute(text("select creditor_name from transfer_items order by line")).scalars().all() == list(NAMES)
        assert conn.execute(text("select document from transfer_batches")).scalar() == DOCUMENT
    assert all(plain.encode() in raw_bytes(db, sqlite_url) for plain in (*ACCOUNTS, OPERATOR))
    with db.engine.begin() as conn:
        command.upgrade(alembic(conn), "head")
    raw = raw_bytes(db, sqlite_url)
    assert not any(plain.encode() in raw for plain in (*NAMES, *ACCOUNTS, *PAYOUT, OPERATOR))
    with db.reader() as session:
        rows = session.scalars(select(TransferItem).order_by(TransferItem.line)).all()
        assert [(r.creditor_name, r.creditor_account) for r in rows] == list(zip(NAMES, ACCOUNTS))
        assert rows[0].creditor_account_index == blind_index_value(TransferItem, "creditor_account", ACCOUNTS[0])
        assert session.get(SettlementProfile, merchant_id).payout_name == PAYOUT[0]
    db.dispose()
