"""Migration 0010 creates exactly the AML tables as modelled, and goes down and up again."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from juhe.aml import models
from juhe.db.engine import MIGRATIONS_DIR
from juhe.db.models import Base

TABLES = {model.__tablename__ for model in (
    models.AmlWatchList, models.AmlListVersion, models.AmlScreening, models.AmlScreeningHit, models.AmlMonitoringRun,
    models.AmlCase, models.AmlCaseEvent, models.AmlAlert)}


def test_migration_creates_exactly_the_modelled_tables(aml_world_any):
    with aml_world_any.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Other domains' tables are theirs to check; any difference touching ours fails here.
    assert [d for d in diffs if any(table in repr(d) for table in TABLES)] == []
    assert TABLES <= set(inspect(aml_world_any.db.engine).get_table_names())


def test_migration_downgrades_and_upgrades_again(aml_world):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with aml_world.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0010-1")  # one step below AML, whatever precedes it
    assert not TABLES & set(inspect(aml_world.db.engine).get_table_names())
    with aml_world.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    assert TABLES <= set(inspect(aml_world.db.engine).get_table_names())
