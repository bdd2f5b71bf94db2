"""Migration 0007 creates exactly the modelled settlement and recon tables, and downgrades."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from juhe.db.engine import MIGRATIONS_DIR, Database
from juhe.db.models import Base
from juhe.recon.models import ReconItem
from juhe.settlement import models

TABLES = {m.__tablename__ for m in (
    models.FeeScheduleRow, models.SettlementProfile, models.SettlementRun, models.SettlementBatch, models.SettlementHold,
    models.SettlementItem, models.SettlementRelease, models.PayoutFile, models.ReserveProofRow, ReconItem)}


def test_migration_creates_exactly_the_modelled_tables(sqlite_url):
    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if any(f"'{table}'" in repr(d) or f"<{table}>" in repr(d) for table in TABLES)]
    assert ours == []
    assert TABLES <= set(inspect(db.engine).get_table_names())
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007-1")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.dispose()
