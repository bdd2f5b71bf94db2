from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from juhe.db.engine import MIGRATIONS_DIR
from juhe.db.models import Base
from juhe.webhooks import models

TABLES = {models.ENDPOINTS.name, models.EVENTS.name, models.DELIVERIES.name, models.ATTEMPTS.name}


def test_migration_creates_exactly_the_modelled_tables(hooks):
    with hooks.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Other domains' tables are theirs to check; any difference touching ours fails here.
    assert [d for d in diffs if "webhook_" in repr(d)] == []
    assert TABLES <= set(inspect(hooks.db.engine).get_table_names())


def test_migration_downgrades_and_upgrades_again(hooks):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with hooks.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    assert not TABLES & set(inspect(hooks.db.engine).get_table_names())
    with hooks.db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    assert TABLES <= set(inspect(hooks.db.engine).get_table_names())
