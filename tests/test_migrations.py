"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL, and
go down to nothing and up again."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from juhe.db.engine import MIGRATIONS_DIR, Database
from juhe.db.models import Base, load_all_models


def config() -> Config:
    found = Config()
    found.set_main_option("script_location", str(MIGRATIONS_DIR))
    return found


def test_the_migrations_are_one_line_of_history():
    assert len(ScriptDirectory.from_config(config()).get_heads()) == 1


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_url"])
def test_the_migrated_schema_is_the_models_schema(url_fixture, request):
    load_all_models()
    db = Database(request.getfixturevalue(url_fixture))
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []
    with db.engine.begin() as conn:
        cfg = config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    with db.engine.begin() as conn:
        cfg = config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert "payments" in inspect(db.engine).get_table_names()
    db.dispose()
