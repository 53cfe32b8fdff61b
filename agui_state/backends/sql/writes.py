"""Applying a write batch inside one SQL transaction.

:func:`prepare` validates and serializes a batch before any statement runs
(a value that is not JSON, or an id PostgreSQL cannot store, fails here and
nothing is sent). :meth:`BatchWriter.apply` then runs the steps in order
inside the caller's transaction; the first failure raises and the caller
rolls back, so a batch is all or none.

Optimistic concurrency is enforced by the database, not by a read-then-write:

* a run of consecutive versions ``first..last`` of one state moves the head
  with a conditional ``UPDATE states SET head = last WHERE state_id = :id AND
  head = first - 1`` (or, when the run may create the state, an ``INSERT ...
  ON CONFLICT DO UPDATE ... WHERE head = first - 1``), ``RETURNING head``; no
  row back means someone else moved the head: :class:`ConflictError` after re-reading it.
  Concurrent writers block on the row lock, and PostgreSQL re-checks the
  ``WHERE`` on the committed row, so exactly one of them wins;
* the version rows are then inserted (``executemany``); the primary key on
  ``(state_id, number)`` is the backstop (IntegrityError -> ConflictError).

This is O(delta) per update: one small row inserted, one row updated; the
checkpoint columns are written only when a version carries a checkpoint, and
then the states row only refers to it (``checkpoint_version`` = its number,
``checkpoint`` NULL): the full state is stored once, in the versions row.
The rules are those of :class:`~agui_state.backends.base.HeadTracker`: a
version must be numbered head + 1 counting earlier writes of the batch, and a
version carrying a checkpoint may open an absent state at any number.

On PostgreSQL, a batch that is one version run of an existing state does
not come here: ``hot`` writes it in one autocommitted statement with the
same guarantees.

Version runs are the hot path (every update of a store): their statements are
rendered to driver SQL once per backend (:class:`WriteSQL`, identifiers
quoted by the dialect's identifier preparer, values bound as parameters) and
run through an :class:`~agui_state.backends.sql.driver.Executor`. ``set_state`` and snapshots
are rare and stay SQLAlchemy Core statements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from agui_state.backends.base import Write, version_conflict
from agui_state.backends.sql.codec import RawJSON, check_text, encode_json, encode_text
from agui_state.backends.sql.driver import ConnectionExecutor, Executor
from agui_state.backends.sql.schema import Tables
from agui_state.errors import ConflictError, NotFoundError

__all__ = [
    "VERSION_COLUMNS",
    "BatchWriter",
    "SetStateStep",
    "SnapshotStep",
    "Step",
    "VersionRow",
    "VersionRun",
    "WriteSQL",
    "duplicate_version",
    "prepare",
]

VERSION_COLUMNS = ("state_id", "number", "id", "parent_id", "ts", "delta", "metadata", "checkpoint")
"""Column order of a :data:`VersionRow` (and of the rendered ``INSERT``)."""

_OPEN_COLUMNS = ("state_id", "checkpoint_version", "checkpoint", "created_at", "head", "updated_at")
"""Columns (and parameter order) of the states row inserted by ``WriteSQL.open_head*``."""

VersionRow = tuple[str, int, str, str | None, datetime, str, str, str | None]
"""A versions row; documents are JSON text from :func:`.codec.encode_text`."""


@dataclass(slots=True)
class VersionRun:
    """Consecutive versions ``first..last`` of one state, adjacent in the batch."""

    state_id: str
    first: int
    last: int
    opens: bool  # the first version carries a checkpoint: may open an absent state
    first_id: str
    checkpoint: tuple[int, str] | None = None  # the newest checkpoint in the run (JSON text)
    rows: list[VersionRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SetStateStep:
    """Store a full state as the latest checkpoint at the head (and origin at head 0)."""

    state_id: str
    state: RawJSON
    expected: int | None


@dataclass(frozen=True, slots=True)
class SnapshotStep:
    """Insert or replace one snapshot."""

    state_id: str
    row: dict[str, Any]


Step = VersionRun | SetStateStep | SnapshotStep


def prepare(writes: Sequence[Write]) -> list[Step]:
    """Validate and serialize ``writes``; group adjacent consecutive versions.

    Raises:
        ValidationError: A value is not JSON or an id/label cannot be stored.
    """
    steps: list[Step] = []
    for write in writes:
        check_text("state_id", write.state_id)
        if write.kind == "version":
            v = write.version
            assert v is not None
            check_text("version.id", v.id)
            check_text("version.parent_id", v.parent_id)
            cp = (
                encode_text(v.checkpoint, "version.checkpoint")
                if v.checkpoint is not None
                else None
            )
            row: VersionRow = (
                write.state_id,
                v.number,
                v.id,
                v.parent_id,
                v.timestamp,
                encode_text(v.delta, "version.delta"),
                encode_text(v.metadata, "version.metadata"),
                cp,
            )
            last = steps[-1] if steps else None
            if not (
                isinstance(last, VersionRun)
                and last.state_id == write.state_id
                and v.number == last.last + 1
            ):
                last = VersionRun(write.state_id, v.number, v.number - 1, cp is not None, v.id)
                steps.append(last)
            last.last = v.number
            last.rows.append(row)
            if cp is not None:
                last.checkpoint = (v.number, cp)
        elif write.kind == "state":
            steps.append(
                SetStateStep(
                    write.state_id, encode_json(write.state, "state"), write.expected_version
                )
            )
        else:
            s = write.snapshot
            assert s is not None
            check_text("snapshot.id", s.id)
            steps.append(
                SnapshotStep(
                    write.state_id,
                    {
                        "state_id": write.state_id,
                        "id": s.id,
                        "version": s.version,
                        "ts": s.timestamp,
                        "label": None
                        if s.label is None
                        else encode_json(s.label, "snapshot.label"),
                        "metadata": encode_json(s.metadata, "snapshot.metadata"),
                        "state": encode_json(s.state, "snapshot.state"),
                    },
                )
            )
    return steps


@dataclass(frozen=True, slots=True)
class WriteSQL:
    """The version-run statements as driver SQL, rendered once per backend.

    Identifiers (schema, tables, columns) are quoted by the dialect's
    identifier preparer, as SQLAlchemy quotes them in its own statements (a
    mixed-case prefix or a reserved-word schema stays safe; ``%`` is doubled
    for psycopg). Every value is a positional placeholder.

    Attributes:
        move_head: ``UPDATE states SET head, updated_at WHERE state_id AND head
            = first - 1 RETURNING head``; params (last, now, state_id, first - 1).
        move_head_cp: The same, also setting ``checkpoint_version, checkpoint``;
            params (last, now, cp_version, None, state_id, first - 1): NULL
            refers to the checkpoint of versions row ``cp_version``.
        open_head: ``INSERT`` of the states row, or ``ON CONFLICT`` the same
            head move; params (state_id, 0, '{}', now, last, now, first - 1).
        open_head_cp: The same, also moving the checkpoint; params
            (state_id, cp_version, None, now, last, now, first - 1).
        insert_version: ``INSERT`` of one versions row (:data:`VERSION_COLUMNS`).
        read_head: ``SELECT head`` of one state; params (state_id,).
        ts: Converts a datetime to the value SQLAlchemy binds for the
            timestamp columns (see :func:`timestamp_binder`).
    """

    move_head: str
    move_head_cp: str
    open_head: str
    open_head_cp: str
    insert_version: str
    read_head: str
    ts: Callable[[datetime], Any]

    @classmethod
    def render(cls, dialect: Dialect, tables: Tables, mark: str) -> WriteSQL:
        """Render the statements for ``tables`` on ``dialect`` with placeholder ``mark``."""
        quote = dialect.identifier_preparer
        st, v = tables.states, tables.versions
        states = quote.format_table(st)
        col = {c.name: quote.format_column(c) for c in st.columns}
        sid, head = col["state_id"], col["head"]

        def marks(n: int) -> str:
            return ", ".join([mark] * n)

        def assign(names: Sequence[str]) -> str:
            return ", ".join(f"{col[n]} = {mark}" for n in names)

        def upsert(names: Sequence[str]) -> str:
            inserted = _OPEN_COLUMNS
            sets = ", ".join(f"{col[n]} = excluded.{col[n]}" for n in names)
            return (
                f"INSERT INTO {states} ({', '.join(col[n] for n in inserted)}) "  # noqa: S608
                f"VALUES ({marks(len(inserted))}) ON CONFLICT ({sid}) DO UPDATE SET {sets} "
                f"WHERE {states}.{head} = {mark} RETURNING {head}"
            )

        # S608: the SQL text holds only identifiers, quoted by the preparer,
        # and placeholders; every value is a bound parameter.
        moved = ("head", "updated_at")
        with_cp = (*moved, "checkpoint_version", "checkpoint")
        where = f"WHERE {sid} = {mark} AND {head} = {mark} RETURNING {head}"
        version_cols = ", ".join(quote.format_column(v.c[n]) for n in VERSION_COLUMNS)
        return cls(
            move_head=f"UPDATE {states} SET {assign(moved)} {where}",  # noqa: S608
            move_head_cp=f"UPDATE {states} SET {assign(with_cp)} {where}",  # noqa: S608
            open_head=upsert(moved),
            open_head_cp=upsert(with_cp),
            insert_version=(
                f"INSERT INTO {quote.format_table(v)} ({version_cols}) "  # noqa: S608
                f"VALUES ({marks(len(VERSION_COLUMNS))})"
            ),
            read_head=f"SELECT {head} FROM {states} WHERE {sid} = {mark}",  # noqa: S608
            ts=timestamp_binder(dialect, v.c.ts.type),
        )


def _pg_timestamp(value: datetime) -> datetime:
    # An aware UTC datetime (psycopg binds it as timestamptz), as UTCDateTime.
    if value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_timestamp(value: datetime) -> str:
    # Naive UTC text, as SQLAlchemy's SQLite DATETIME stores it (sorts in time order).
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


_SAMPLES = (
    datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC),
    datetime(1999, 12, 31, 22, 0, 0, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2030, 1, 2, 3, 4, 5, 6),  # naive: taken as UTC
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
)


def timestamp_binder(dialect: Dialect, column_type: Any) -> Callable[[datetime], Any]:
    """The conversion of a datetime to what SQLAlchemy binds for ``column_type``.

    SQLAlchemy's own bind processor (``UTCDateTime`` then the dialect's
    DATETIME) is exact but costs more than the statement it feeds; the direct
    conversions above are used when they give the very same values on sample
    datetimes, and the processor otherwise.
    """
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    fast = _pg_timestamp if dialect.name == "postgresql" else _sqlite_timestamp
    if processor is None:
        return _same
    for sample in _SAMPLES:
        expected, got = processor(sample), fast(sample)
        if type(expected) is not type(got) or expected != got:
            return cast("Callable[[datetime], Any]", processor)
        if isinstance(got, datetime) and got.tzinfo is not UTC:
            return cast("Callable[[datetime], Any]", processor)
    return fast


def _same(value: datetime) -> Any:
    return value


class BatchWriter:
    """Applies prepared steps for one backend: its tables and dialect.

    Built once per backend, so the hot statements are rendered once.

    Args:
        tables: The backend's tables.
        dialect: The engine's dialect.
        marker: The driver's positional placeholder (``?`` or ``%s``).
    """

    __slots__ = ("_insert", "_sql", "_tables")

    def __init__(self, tables: Tables, dialect: Dialect, marker: str) -> None:
        self._tables = tables
        self._sql = WriteSQL.render(dialect, tables, marker)
        # Both dialects have INSERT ... ON CONFLICT with the same SQLAlchemy API.
        self._insert: Callable[[sa.Table], Any] = (
            postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        )

    @property
    def sql(self) -> WriteSQL:
        """The rendered hot-path statements."""
        return self._sql

    def apply(self, conn: Connection, steps: Sequence[Step], now: datetime) -> None:
        """Run ``steps`` in order on ``conn`` (inside the caller's transaction).

        Raises:
            ConflictError: A version is not numbered next or an expectation failed.
            NotFoundError: A snapshot of a state that does not exist.
        """
        ex = ConnectionExecutor(conn)
        for step in steps:
            if isinstance(step, VersionRun):
                self._apply_run(ex, step, now)
            elif isinstance(step, SetStateStep):
                self._apply_set_state(conn, ex, step, now)
            else:
                self._apply_snapshot(conn, step)

    def apply_runs(self, ex: Executor, runs: Sequence[Step], now: datetime) -> None:
        """Run a batch of version runs only, through ``ex`` (inside its transaction).

        Raises:
            ConflictError: A version is not numbered next.
        """
        for run in runs:
            assert isinstance(run, VersionRun)
            self._apply_run(ex, run, now)

    def head(self, ex: Executor, state_id: str) -> int | None:
        """The stored head of ``state_id`` (None: absent), read in ``ex``'s transaction."""
        row = ex.one(self._sql.read_head, (state_id,))
        return None if row is None else int(row[0])

    def _apply_run(self, ex: Executor, run: VersionRun, now: datetime) -> None:
        sql = self._sql
        at = sql.ts(now)
        previous = run.first - 1
        cp = run.checkpoint
        params: tuple[Any, ...]
        # A version-carried checkpoint is stored once, in its versions row:
        # the states row refers to it (checkpoint_version, checkpoint NULL).
        if run.first == 1 or run.opens:
            # May create the state: insert it, or advance an existing head.
            cp_version, cp_text = (cp[0], None) if cp is not None else (0, "{}")
            stmt = sql.open_head if cp is None else sql.open_head_cp
            params = (run.state_id, cp_version, cp_text, at, run.last, at, previous)
        elif cp is None:
            stmt, params = sql.move_head, (run.last, at, run.state_id, previous)
        else:
            stmt = sql.move_head_cp
            params = (run.last, at, cp[0], None, run.state_id, previous)
        if ex.one(stmt, params) is None:
            raise version_conflict(run.state_id, run.first, self.head(ex, run.state_id) or 0)
        ts = sql.ts
        rows = [(r[0], r[1], r[2], r[3], ts(r[4]), r[5], r[6], r[7]) for r in run.rows]
        try:
            if len(rows) == 1:
                ex.run(sql.insert_version, rows[0])
            else:
                ex.run_many(sql.insert_version, rows)
        except sa_exc.IntegrityError as exc:
            raise duplicate_version(run) from exc

    def _apply_set_state(
        self, conn: Connection, ex: Executor, step: SetStateStep, now: datetime
    ) -> None:
        st = self._tables.states
        if step.expected is None or step.expected == 0:
            # At head 0 (a new row, or one without versions) the state is also
            # the origin, in the same statement; at a later head it is not.
            ins = self._insert(st).values(
                state_id=step.state_id,
                head=0,
                checkpoint_version=0,
                checkpoint=step.state,
                origin=step.state,
                created_at=now,
                updated_at=now,
            )
            stmt: Any = ins.on_conflict_do_update(
                index_elements=[st.c.state_id],
                set_={
                    "checkpoint_version": st.c.head,
                    "checkpoint": ins.excluded.checkpoint,
                    "origin": sa.case((st.c.head == 0, ins.excluded.origin), else_=st.c.origin),
                    "updated_at": ins.excluded.updated_at,
                },
                where=(st.c.head == 0) if step.expected == 0 else None,
            )
        else:
            stmt = (
                sa.update(st)
                .where(st.c.state_id == step.state_id, st.c.head == step.expected)
                .values(checkpoint_version=st.c.head, checkpoint=step.state, updated_at=now)
            )
        if conn.execute(stmt.returning(st.c.head)).first() is None:
            raise ConflictError(step.state_id, step.expected, self.head(ex, step.state_id))

    def _apply_snapshot(self, conn: Connection, step: SnapshotStep) -> None:
        snapshots = self._tables.snapshots
        ins = self._insert(snapshots).values(**step.row)
        stmt = ins.on_conflict_do_update(
            index_elements=[snapshots.c.state_id, snapshots.c.id],
            set_={
                name: ins.excluded[name] for name in ("version", "ts", "label", "metadata", "state")
            },
        )
        try:
            conn.execute(stmt)
        except sa_exc.IntegrityError as exc:
            # The primary key is resolved by ON CONFLICT: only the foreign key
            # to the states row can fail, i.e. the state does not exist.
            raise NotFoundError("state", step.state_id) from exc


def duplicate_version(run: VersionRun) -> ConflictError:
    """The conflict raised when the key backstop (state, number) or (state, id) fires.

    The head check passed but a row with one of the run's numbers or ids
    exists: another writer stored it, or a retried write had landed.
    """
    return ConflictError(
        run.state_id,
        run.first - 1,
        None,
        f"version {run.first}..{run.last} (or one of its ids) is already stored",
    )
