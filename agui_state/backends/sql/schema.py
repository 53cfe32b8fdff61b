"""Tables and versioned migrations of the SQL backend.

Tables (``{p}`` is ``config.table_prefix``; on PostgreSQL they live in
``config.schema`` when set)::

    {p}states    state_id PK, head, checkpoint_version, checkpoint, created_at, updated_at,
                 origin (the state at version 0; NULL: {})
                 checkpoint NULL (schema 3): the latest checkpoint is the ``checkpoint``
                 of versions row ``checkpoint_version`` (stored once, not twice)
    {p}versions  (state_id, number) PK, id, parent_id, ts, delta, metadata, checkpoint
                 unique index (state_id, id)
    {p}snapshots (state_id, id) PK, version, ts, label, metadata, state
                 index (state_id, version, ts, id)
    {p}schema_migrations  version PK, description, applied_at

Every read the backend does is a lookup or a range scan on one of these
keys: history pages walk the versions primary key backwards, a version by id
uses the unique index, snapshot listing uses its index, and ``list_states``
pages the states primary key.

Ids sort in code-point order on both dialects: PostgreSQL columns use
``COLLATE "C"`` (byte order of UTF-8 is code-point order), SQLite compares
text with its default ``BINARY`` collation (also UTF-8 bytes).

Identifiers (schema, table and index names) are always passed to
SQLAlchemy as :class:`~sqlalchemy.Table` / :class:`~sqlalchemy.MetaData`
names, which quotes them as needed: a prefix such as ``Select_`` or a
reserved word as schema is safe, and nothing is formatted into SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect

from agui_state.errors import StorageError

__all__ = ["MIGRATIONS", "Migration", "Tables", "build_tables", "run_migrations"]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime, stored as ``timestamptz`` (PostgreSQL) or text (SQLite).

    SQLite keeps no zone: values are converted to UTC and stored naive, so
    their text sorts chronologically; reads put UTC back.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value  # type: ignore[no-any-return]  # decode_* reports the corruption


def _id_text() -> sa.types.TypeEngine[str]:
    # "C" collation: code-point order and plain btree range scans on PostgreSQL.
    return sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")


def _json() -> sa.types.TypeEngine[Any]:
    # Generic JSON renders PostgreSQL ``json`` (exact text, not ``jsonb``: see
    # codec.py) and SQLite JSON (text). none_as_null: Python None is SQL NULL.
    return sa.JSON(none_as_null=True)


@dataclass(frozen=True, slots=True)
class Tables:
    """The backend's tables, bound to one schema and prefix."""

    prefix: str
    metadata: sa.MetaData
    states: sa.Table
    versions: sa.Table
    snapshots: sa.Table
    migrations: sa.Table


def build_tables(schema: str | None, prefix: str) -> Tables:
    """Define the tables for ``schema`` (None: default) and table ``prefix``."""
    return _define_tables(schema, prefix, schema_version=MIGRATIONS[-1].version)


def _define_tables(schema: str | None, prefix: str, *, schema_version: int) -> Tables:
    """The tables as they are after migration ``schema_version``."""
    md = sa.MetaData(schema=schema)
    added_later: list[sa.Column[Any]] = []
    if schema_version >= 2:
        # The state at version 0 (set_state at head 0); NULL means {}.
        added_later.append(sa.Column("origin", _json(), nullable=True))
    states = sa.Table(
        f"{prefix}states",
        md,
        sa.Column("state_id", _id_text(), primary_key=True),
        sa.Column("head", sa.BigInteger, nullable=False),
        sa.Column("checkpoint_version", sa.BigInteger, nullable=False),
        # NULL (schema 3): the checkpoint carried by versions row checkpoint_version.
        sa.Column("checkpoint", _json(), nullable=schema_version >= 3),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        *added_later,
    )
    versions = sa.Table(
        f"{prefix}versions",
        md,
        sa.Column("state_id", _id_text(), nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("id", _id_text(), nullable=False),
        sa.Column("parent_id", sa.Text, nullable=True),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("delta", _json(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("checkpoint", _json(), nullable=True),
        sa.PrimaryKeyConstraint("state_id", "number"),
        # The primary key is the backstop of optimistic concurrency: two
        # writers can never both store version N. Cascade: deleting a states
        # row can never leave orphans, whoever deletes it.
        sa.ForeignKeyConstraint(["state_id"], [states.c.state_id], ondelete="CASCADE"),
        sa.Index(f"{prefix}versions_id", "state_id", "id", unique=True),
    )
    snapshots = sa.Table(
        f"{prefix}snapshots",
        md,
        sa.Column("state_id", _id_text(), nullable=False),
        sa.Column("id", _id_text(), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        # JSON, not text: a label is any string, NUL included, which
        # PostgreSQL text cannot hold (a JSON string escapes it as \u0000).
        sa.Column("label", _json(), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.PrimaryKeyConstraint("state_id", "id"),
        # A snapshot needs its state: the foreign key turns a snapshot of an
        # absent (or concurrently deleted) state into an IntegrityError.
        sa.ForeignKeyConstraint(["state_id"], [states.c.state_id], ondelete="CASCADE"),
        sa.Index(f"{prefix}snapshots_order", "state_id", "version", "ts", "id"),
    )
    migrations = sa.Table(
        f"{prefix}schema_migrations",
        md,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("applied_at", UTCDateTime, nullable=False),
    )
    return Tables(prefix, md, states, versions, snapshots, migrations)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema history.

    Attributes:
        version: Position in the history (1, 2, 3...), recorded once applied.
        description: What it does, recorded with it.
        apply: Runs the DDL on a connection inside the migration transaction.
    """

    version: int
    description: str
    apply: Callable[[Connection, Tables], None]


def _create_v1(conn: Connection, tables: Tables) -> None:
    # The version-1 shape, frozen: a fresh database goes 1 -> 2 -> ... like
    # an old one, instead of jumping to the end (and failing at step 2).
    v1 = _define_tables(tables.metadata.schema, tables.prefix, schema_version=1)
    v1.metadata.create_all(conn, tables=[v1.states, v1.versions, v1.snapshots], checkfirst=True)


def _add_origin(conn: Connection, tables: Tables) -> None:
    # SQLAlchemy Core has no ALTER TABLE construct: the identifiers come from
    # the dialect's preparer (quoted as in SQLAlchemy's own statements) and
    # the column from CreateColumn, as the versions-run statements are built.
    # Nullable without default: no table rewrite on PostgreSQL or SQLite.
    # Existing rows get NULL ({}): states created before kept no origin.
    table = conn.dialect.identifier_preparer.format_table(tables.states)
    column = sa.schema.CreateColumn(tables.states.c.origin).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")


def _checkpoint_nullable(conn: Connection, tables: Tables) -> None:
    # A version-carried checkpoint is then stored once (in its versions row):
    # NULL in states.checkpoint refers to it. Existing rows keep their text.
    dialect = conn.dialect
    table = dialect.identifier_preparer.format_table(tables.states)
    column = dialect.identifier_preparer.format_column(tables.states.c.checkpoint)
    if dialect.name == "postgresql":
        # Catalog-only change: no table rewrite, no scan.
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")
        return
    # SQLite has no ALTER COLUMN. Removing a NOT NULL constraint leaves the
    # stored rows valid, and SQLite documents editing the table's CREATE
    # statement in sqlite_schema as the way to do it (a table rebuild would
    # have to drop the states table, cascading into versions and snapshots).
    old = _define_tables(tables.metadata.schema, tables.prefix, schema_version=2)
    before = str(sa.schema.CreateColumn(old.states.c.checkpoint).compile(dialect=dialect))
    after = str(sa.schema.CreateColumn(tables.states.c.checkpoint).compile(dialect=dialect))
    name = tables.states.name
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).scalar_one()
    if sql.count(before) != 1:
        raise StorageError(
            f"cannot migrate table {name!r}: column definition {before!r} not found once",
            backend=dialect.name,
        )
    schema_version = int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        conn.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(before, after), name),
        )
        # Other connections re-read the schema when its version changes.
        conn.exec_driver_sql(f"PRAGMA schema_version = {schema_version + 1}")
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create states, versions and snapshots tables", _create_v1),
    Migration(2, "add states.origin (the state at version 0)", _add_origin),
    Migration(
        3,
        "states.checkpoint nullable (NULL: the checkpoint of version checkpoint_version)",
        _checkpoint_nullable,
    ),
)
"""The schema history, oldest first. Append only; never edit an applied step."""


def run_migrations(conn: Connection, tables: Tables, lock_key: str) -> int:
    """Apply pending migrations inside the caller's open transaction.

    Concurrency: on PostgreSQL a transaction-scoped advisory lock keyed by
    schema and prefix serializes concurrent ``setup()`` calls (including the
    ``CREATE SCHEMA IF NOT EXISTS``, which can itself race); on SQLite the
    caller's ``BEGIN IMMEDIATE`` holds the database write lock. The second
    process then sees the first one's recorded versions and does nothing.

    Returns:
        The schema version after migrating.

    Raises:
        StorageError: The database has a newer schema than this build knows.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(lock_key))))
        if tables.metadata.schema is not None:
            conn.execute(sa.schema.CreateSchema(tables.metadata.schema, if_not_exists=True))
    tables.migrations.create(conn, checkfirst=True)
    applied = set(conn.execute(sa.select(tables.migrations.c.version)).scalars())
    known = max(m.version for m in MIGRATIONS)
    if applied and max(applied) > known:
        raise StorageError(
            f"database schema version {max(applied)} of table "
            f"{tables.migrations.name!r} is newer than this build supports ({known}); "
            "upgrade agui-state",
            backend=conn.dialect.name,
        )
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        migration.apply(conn, tables)
        conn.execute(
            sa.insert(tables.migrations).values(
                version=migration.version,
                description=migration.description,
                applied_at=datetime.now(UTC),
            )
        )
    return known
