"""The migrations are the schema: `upgrade head` yields exactly the tables' metadata."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, inspect

from journeys.store import create_db_engine, create_schema
from journeys.store.db import alembic_config
from journeys.store.tables import metadata


def _diff(engine: Engine, target: MetaData) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, target))


def test_upgrade_head_matches_the_tables_exactly(db_url: str) -> None:
    engine = create_db_engine(db_url)
    create_schema(engine)
    assert _diff(engine, metadata) == []
    engine.dispose()


def test_the_comparison_would_notice_a_difference(engine: Engine) -> None:
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["customer"].append_column(Column("loyalty_points", Integer))
    diff = _diff(engine, changed)
    assert [d[0] for d in diff if isinstance(d, tuple)] == ["add_column"]


def test_create_schema_is_idempotent(engine: Engine) -> None:
    create_schema(engine)
    assert _diff(engine, metadata) == []


def test_downgrade_removes_every_table(engine: Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
