"""Alembic's environment, run by the service's start-up upgrade and by the `alembic` command line.

The service hands over its own connection (`migrations.upgrade`); the command line connects to
DATABASE_URL as the service would (Settings: the environment, then `.env`), with the same engine.
"""

from logging.config import fileConfig

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import database
import migrations
from config import load_settings

config = context.config
target_metadata = database.Base.metadata


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    sqlite = (connection.dialect.name if connection is not None else str(url)).startswith("sqlite")
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        # SQLite alters a table by copying it: batch operations do that for every revision.
        render_as_batch=sqlite,
        compare_type=True,
        include_name=migrations.ours,
        # `migrations.held` makes even SQLite's DDL transactional: one transaction for everything.
        transactional_ddl=True,
        literal_binds=url is not None,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: write the SQL out instead of running it."""
    configure(url=load_settings().database_url)
    with context.begin_transaction():
        context.run_migrations()


def run(connection: Connection) -> None:
    with migrations.held(connection):
        configure(connection)
        migrations.adopt(context.get_context(), ScriptDirectory.from_config(config))
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = database.create_engine(load_settings().database_url)
    try:
        with engine.connect() as own:
            run(own)
    finally:
        engine.dispose()


if config.config_file_name is not None:  # the command line: alembic.ini's logging
    fileConfig(config.config_file_name, disable_existing_loggers=False)
if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
