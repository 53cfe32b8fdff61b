"""Applying a write batch inside one SQL transaction.

:func:`prepare` validates and serializes a batch before any statement runs
(a value that is not JSON, or an id PostgreSQL cannot store, fails here and
nothing is sent). :func:`apply` then runs the steps in order inside the
caller's transaction; the first failure raises and the caller rolls back, so
a batch is all or none.

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
checkpoint columns are written only when a version carries a checkpoint.
The rules are those of :class:`~agui_state.backends.base.HeadTracker`: a
version must be numbered head + 1 counting earlier writes of the batch, and a
version carrying a checkpoint may open an absent state at any number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from agui_state.backends._sql_codec import RawJSON, check_text, encode_json
from agui_state.backends._sql_schema import Tables
from agui_state.backends.base import Write, version_conflict
from agui_state.errors import ConflictError, NotFoundError

__all__ = [
    "SetStateStep",
    "SnapshotStep",
    "Step",
    "VersionRun",
    "apply",
    "first_version",
    "prepare",
]


@dataclass(slots=True)
class VersionRun:
    """Consecutive versions ``first..last`` of one state, adjacent in the batch."""

    state_id: str
    first: int
    last: int
    opens: bool  # the first version carries a checkpoint: may open an absent state
    first_id: str
    checkpoint: tuple[int, RawJSON] | None = None  # the newest checkpoint in the run
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SetStateStep:
    """Store a full state as the latest checkpoint at the head."""

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
                encode_json(v.checkpoint, "version.checkpoint")
                if v.checkpoint is not None
                else None
            )
            row = {
                "state_id": write.state_id,
                "number": v.number,
                "id": v.id,
                "parent_id": v.parent_id,
                "ts": v.timestamp,
                "delta": encode_json(v.delta, "version.delta"),
                "metadata": encode_json(v.metadata, "version.metadata"),
                "checkpoint": cp,
            }
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


def first_version(steps: Sequence[Step]) -> VersionRun | None:
    """The first version run of a batch: proof of commit when it is stored."""
    for step in steps:
        if isinstance(step, VersionRun):
            return step
    return None


def _insert(conn: Connection, table: sa.Table) -> Any:
    # Both dialects have INSERT ... ON CONFLICT with the same SQLAlchemy API.
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    return mod.insert(table)


def _head(conn: Connection, tables: Tables, state_id: str) -> int | None:
    st = tables.states
    head = conn.execute(sa.select(st.c.head).where(st.c.state_id == state_id)).scalar_one_or_none()
    return None if head is None else int(head)


def _apply_run(conn: Connection, tables: Tables, run: VersionRun, now: datetime) -> None:
    st = tables.states
    values: dict[str, Any] = {"head": run.last, "updated_at": now}
    if run.checkpoint is not None:
        values["checkpoint_version"], values["checkpoint"] = run.checkpoint
    if run.first == 1 or run.opens:
        # May create the state: insert it, or advance an existing head.
        ins = _insert(conn, st).values(
            state_id=run.state_id,
            checkpoint_version=values.get("checkpoint_version", 0),
            checkpoint=values.get("checkpoint", RawJSON("{}")),
            created_at=now,
            head=run.last,
            updated_at=now,
        )
        stmt: Any = ins.on_conflict_do_update(
            index_elements=[st.c.state_id],
            set_={name: ins.excluded[name] for name in values},
            where=st.c.head == run.first - 1,
        )
    else:
        stmt = (
            sa.update(st)
            .where(st.c.state_id == run.state_id, st.c.head == run.first - 1)
            .values(**values)
        )
    if conn.execute(stmt.returning(st.c.head)).first() is None:
        actual = _head(conn, tables, run.state_id) or 0
        raise version_conflict(run.state_id, run.first, actual)
    try:
        conn.execute(sa.insert(tables.versions), run.rows)
    except sa_exc.IntegrityError as exc:
        raise ConflictError(
            run.state_id,
            run.first - 1,
            None,
            f"version {run.first}..{run.last} (or one of its ids) is already stored",
        ) from exc


def _apply_set_state(conn: Connection, tables: Tables, step: SetStateStep, now: datetime) -> None:
    st = tables.states
    if step.expected is None or step.expected == 0:
        ins = _insert(conn, st).values(
            state_id=step.state_id,
            head=0,
            checkpoint_version=0,
            checkpoint=step.state,
            created_at=now,
            updated_at=now,
        )
        stmt: Any = ins.on_conflict_do_update(
            index_elements=[st.c.state_id],
            set_={
                "checkpoint_version": st.c.head,
                "checkpoint": ins.excluded.checkpoint,
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
        raise ConflictError(step.state_id, step.expected, _head(conn, tables, step.state_id))


def _apply_snapshot(conn: Connection, tables: Tables, step: SnapshotStep) -> None:
    ins = _insert(conn, tables.snapshots).values(**step.row)
    stmt = ins.on_conflict_do_update(
        index_elements=[tables.snapshots.c.state_id, tables.snapshots.c.id],
        set_={name: ins.excluded[name] for name in ("version", "ts", "label", "metadata", "state")},
    )
    try:
        conn.execute(stmt)
    except sa_exc.IntegrityError as exc:
        # The primary key is resolved by ON CONFLICT: only the foreign key
        # to the states row can fail, i.e. the state does not exist.
        raise NotFoundError("state", step.state_id) from exc


def apply(conn: Connection, tables: Tables, steps: Sequence[Step], now: datetime) -> None:
    """Run ``steps`` in order on ``conn`` (inside the caller's transaction).

    Raises:
        ConflictError: A version is not numbered next or an expectation failed.
        NotFoundError: A snapshot of a state that does not exist.
    """
    for step in steps:
        if isinstance(step, VersionRun):
            _apply_run(conn, tables, step, now)
        elif isinstance(step, SetStateStep):
            _apply_set_state(conn, tables, step, now)
        else:
            _apply_snapshot(conn, tables, step)
