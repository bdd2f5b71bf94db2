"""Migration 0008 creates exactly the monitor's modelled tables, and goes down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from juhe.db.engine import MIGRATIONS_DIR
from juhe.db.models import Base
from juhe.monitor import models

TABLES = {m.__tablename__ for m in (models.AlertRule, models.MonitorAlert, models.MonitorIncident, models.MonitorIncidentEvent)}


def _ours(diff) -> bool:
    return any(table in repr(diff) for table in TABLES)


def test_migration_creates_exactly_the_modelled_tables(world_any):
    with world_any.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Other domains' tables are theirs to check; any difference touching ours fails here.
    assert [d for d in diffs if _ours(d)] == []
    assert TABLES <= set(inspect(world_any.db.engine).get_table_names())


def test_migration_downgrades_and_upgrades_again(world):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with world.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0008-1")  # one step below the monitor, whatever precedes it
    assert not TABLES & set(inspect(world.db.engine).get_table_names())
    with world.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    assert TABLES <= set(inspect(world.db.engine).get_table_names())
