"""One version run of an existing PostgreSQL state in one autocommitted statement.

The hot path of the SQL backend is an update of a store: a batch that is one
run of consecutive versions ``first..last`` of one state. In a transaction
it costs four round trips (``BEGIN``, the conditional head update, the
``INSERT`` of the rows, ``COMMIT``); on PostgreSQL the two writes fit in one
statement, sent in autocommit (one round trip)::

    WITH moved AS (
        UPDATE states SET head = :last, updated_at = :now
            [, checkpoint_version = :cp_version, checkpoint = NULL]
        WHERE state_id = :state_id AND head = :first - 1
        RETURNING state_id)
    INSERT INTO versions (state_id, number, id, ...)
    SELECT moved.state_id, r.* FROM moved CROSS JOIN (VALUES (...), ...) AS r (...)

A statement is atomic by itself: either the head moves and every row is
inserted, or nothing is written. The guarantees are those of the
transaction path (``writes``):

* no row inserted means the head was not at ``first - 1`` (PostgreSQL
  re-checks the ``WHERE`` on the committed row when a concurrent writer
  held the row lock, so exactly one of two racing writers wins): the head
  is re-read and :func:`~agui_state.backends.base.version_conflict` raised;
* the primary key / unique id constraint of the versions table stays the
  backstop (IntegrityError -> ConflictError, nothing written);
* a statement whose reply is lost (the connection dies) has an unknown
  outcome, like a COMMIT whose reply is lost: the backend retries it, and a
  retry finding the head moved looks for the run's first version id at its
  number (``SQLBackend.write_batch``) before reporting a conflict.

The states row must exist: version 1 goes through the transaction path
(which creates the row), and a run whose first version carries a checkpoint
(which may open an absent state at any number) falls back to it when the
statement finds no states row. The values are cast to their column types in
the ``VALUES`` list: PostgreSQL would resolve untyped parameters there as
``text``, which is not assignable to ``json``, ``bigint`` or a timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect

from agui_state.backends.base import version_conflict
from agui_state.backends.sql.driver import Executor
from agui_state.backends.sql.schema import Tables
from agui_state.backends.sql.writes import VERSION_COLUMNS, Step, VersionRun, duplicate_version

__all__ = ["MAX_HOT_ROWS", "HotWriter", "hot_run"]

MAX_HOT_ROWS = 1000
"""Versions at most in one statement (7 parameters each: far below PostgreSQL's 65,535)."""

_CACHED_ROWS = 16
"""Statements for runs of up to this many versions are rendered once and kept."""


def hot_run(steps: Sequence[Step]) -> VersionRun | None:
    """The batch's version run when it can be written in one statement, else None."""
    if len(steps) != 1:
        return None
    run = steps[0]
    if not isinstance(run, VersionRun) or run.first <= 1 or len(run.rows) > MAX_HOT_ROWS:
        return None
    return run


class HotWriter:
    """Renders and runs the single-statement write of a version run (PostgreSQL).

    Args:
        tables: The backend's tables.
        dialect: The engine's (PostgreSQL) dialect: quotes the identifiers.
        mark: The driver's positional placeholder (``%s``).
        ts: The timestamp binder of ``WriteSQL`` (what SQLAlchemy would bind).
        read_head: The ``SELECT head`` statement of ``WriteSQL``.
    """

    __slots__ = ("_cache", "_head", "_insert", "_mark", "_read_head", "_row", "_ts")

    def __init__(
        self,
        tables: Tables,
        dialect: Dialect,
        mark: str,
        ts: Callable[[datetime], Any],
        read_head: str,
    ) -> None:
        quote = dialect.identifier_preparer
        st, v = tables.states, tables.versions
        states = quote.format_table(st)
        col = {c.name: quote.format_column(c) for c in st.columns}

        def assign(names: Sequence[str]) -> str:
            return ", ".join(f"{col[n]} = {mark}" for n in names)

        moved = ("head", "updated_at")
        with_cp = (*moved, "checkpoint_version", "checkpoint")
        sid = col["state_id"]
        where = f"WHERE {sid} = {mark} AND {col['head']} = {mark} RETURNING {sid}"
        # S608: identifiers quoted by the preparer and placeholders only.
        self._head = (
            f"WITH moved AS (UPDATE {states} SET {assign(moved)} {where}) ",  # noqa: S608
            f"WITH moved AS (UPDATE {states} SET {assign(with_cp)} {where}) ",  # noqa: S608
        )
        names = VERSION_COLUMNS[1:]  # state_id comes from the updated states row
        aliases = ", ".join(f"c{i}" for i in range(len(names)))
        self._insert = (
            f"INSERT INTO {quote.format_table(v)} "  # noqa: S608
            f"({', '.join(quote.format_column(v.c[n]) for n in VERSION_COLUMNS)}) "
            f"SELECT moved.{sid}, {aliases} FROM moved CROSS JOIN (VALUES ",
            f") AS r ({aliases})",
        )
        self._row = (
            "(" + ", ".join(f"CAST({mark} AS {_cast_type(v.c[n], dialect)})" for n in names) + ")"
        )
        self._mark = mark
        self._ts = ts
        self._read_head = read_head
        self._cache: dict[tuple[int, bool], str] = {}

    def statement(self, rows: int, checkpoint: bool) -> str:
        """The statement writing ``rows`` versions (and the checkpoint columns when asked)."""
        key = (rows, checkpoint)
        sql = self._cache.get(key)
        if sql is None:
            sql = "".join(
                (
                    self._head[checkpoint],
                    self._insert[0],
                    ", ".join([self._row] * rows),
                    self._insert[1],
                )
            )
            if rows <= _CACHED_ROWS:
                self._cache[key] = sql
        return sql

    def apply(self, ex: Executor, run: VersionRun, now: datetime) -> bool:
        """Write ``run`` in one statement through ``ex`` (an autocommit connection).

        Returns:
            True when written; False when nothing was written because the
            state does not exist and the run may open it (its first version
            carries a checkpoint): the caller then takes the transaction path.

        Raises:
            ConflictError: The head was not at ``run.first - 1``, or a version
                number or id is already stored. Nothing was written.
        """
        ts = self._ts
        at = ts(now)
        params: list[Any] = [run.last, at]
        cp = run.checkpoint
        if cp is not None:
            # checkpoint NULL: the checkpoint is that of versions row cp[0],
            # inserted by this statement (stored once, not in both rows).
            params += (cp[0], None)
        params += (run.state_id, run.first - 1)
        for r in run.rows:
            params += (r[1], r[2], r[3], ts(r[4]), r[5], r[6], r[7])
        try:
            inserted = ex.run(self.statement(len(run.rows), cp is not None), params)
        except sa_exc.IntegrityError as exc:
            raise duplicate_version(run) from exc
        if inserted > 0:
            return True
        row = ex.one(self._read_head, (run.state_id,))
        if row is None and run.opens:
            return False
        raise version_conflict(run.state_id, run.first, 0 if row is None else int(row[0]))


def _cast_type(column: sa.Column[Any], dialect: Dialect) -> str:
    """The column's type as a ``CAST`` target (a collation is the column's business)."""
    rendered: str = column.type.compile(dialect=dialect)
    return rendered.split(" COLLATE ", 1)[0]
