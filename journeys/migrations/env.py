"""Alembic environment: run by `journeys.store.db.create_schema`, no alembic.ini needed.

`create_schema` hands over an open connection in `config.attributes["connection"]`, so
the migration runs inside its transaction. Run by hand (`alembic -x url=…` with a config
naming this folder), the URL comes from `-x url=…` or JOURNEYFLOW_DATABASE_URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from journeys.store.db import get_engine
from journeys.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    with get_engine(url).begin() as conn:
        _run(conn)
