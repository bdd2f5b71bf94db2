"""Alembic environment: runs on the connection handed in by juhe.db.engine.upgrade,
or on JUHE_DATABASE_URL when run from the alembic command line."""

from alembic import context
from sqlalchemy import create_engine

from juhe.config import get_settings
from juhe.db.models import Base, load_all_models

load_all_models()
target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    with create_engine(get_settings().database_url).begin() as connection:
        _migrate(connection)


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
    )
    with context.begin_transaction():
        context.run_migrations()


run()
