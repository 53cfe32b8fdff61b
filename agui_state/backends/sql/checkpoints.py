"""Rewriting stored history in place: checkpoints and replaced versions.

Statements behind the base class's prune and checkpoint hooks
(``replace_version``, ``store_checkpoint``, ``delete_versions_before``):
each function runs inside a write transaction the caller opened, so the
steps of one prune commit together.

The latest checkpoint lives in the ``states`` row, or, when a version
carried it, is a reference (``checkpoint_version``, ``checkpoint`` NULL) to
that ``versions`` row. Before such a row is rewritten or deleted,
:func:`materialize_checkpoint` copies the checkpoint into the ``states`` row
so the reference cannot break.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agui_state.backends.base import Checkpoint, Write
from agui_state.backends.sql import writes as writes_mod
from agui_state.backends.sql.codec import RawJSON
from agui_state.backends.sql.schema import Tables
from agui_state.models import StateVersion

__all__ = ["materialize_checkpoint", "update_checkpoint", "update_version"]


def materialize_checkpoint(
    conn: Connection, tables: Tables, state_id: str, number: int, *, before: bool
) -> None:
    """Copy a version-carried latest checkpoint into the states row.

    Only when the states row refers to versions row ``number`` (or, with
    ``before``, to any row numbered below it): the row is about to be
    rewritten or deleted, and the reference would then break.

    Args:
        conn: A connection inside the caller's write transaction.
        tables: The backend's tables.
        state_id: The state whose row may be updated.
        number: The version row about to be rewritten, or the first kept row.
        before: Whether rows below ``number`` (not ``number`` itself) go.
    """
    st, v = tables.states, tables.versions
    carried = (
        sa.select(v.c.checkpoint)
        .where(v.c.state_id == st.c.state_id, v.c.number == st.c.checkpoint_version)
        .scalar_subquery()
    )
    refers = st.c.checkpoint_version < number if before else st.c.checkpoint_version == number
    conn.execute(
        sa.update(st)
        .where(st.c.state_id == state_id, st.c.checkpoint.is_(None), refers)
        .values(checkpoint=carried)
    )


def update_version(conn: Connection, tables: Tables, version: StateVersion) -> None:
    """Rewrite the stored versions row of ``version`` (same state and number).

    Args:
        conn: A connection inside the caller's write transaction.
        tables: The backend's tables.
        version: The replacement, e.g. the oldest kept version with a checkpoint.
    """
    run = writes_mod.prepare([Write.of_version(version.state_id, version)])[0]
    assert isinstance(run, writes_mod.VersionRun)
    row = dict(zip(writes_mod.VERSION_COLUMNS, run.rows[0], strict=True))
    for name in ("delta", "metadata", "checkpoint"):  # JSON text, stored as is
        if row[name] is not None:
            row[name] = RawJSON(row[name])
    v = tables.versions
    # The latest checkpoint may be this row's: keep it before the rewrite.
    materialize_checkpoint(conn, tables, version.state_id, version.number, before=False)
    conn.execute(
        sa.update(v)
        .where(v.c.state_id == version.state_id, v.c.number == version.number)
        .values({k: row[k] for k in ("id", "parent_id", "ts", "delta", "metadata", "checkpoint")})
    )


def update_checkpoint(
    conn: Connection, tables: Tables, state_id: str, cp: Checkpoint, only_newer: bool = False
) -> None:
    """Store ``cp`` as the latest checkpoint in the states row.

    Args:
        conn: A connection inside the caller's write transaction.
        tables: The backend's tables.
        state_id: The state to update.
        cp: The checkpoint to store.
        only_newer: Leave a checkpoint at or past ``cp.version`` in place.
    """
    st = tables.states
    encoded = writes_mod.prepare([Write.of_state(state_id, cp.state)])[0]
    assert isinstance(encoded, writes_mod.SetStateStep)
    cond = [st.c.state_id == state_id]
    if only_newer:
        cond.append(st.c.checkpoint_version < cp.version)
    conn.execute(
        sa.update(st)
        .where(*cond)
        .values(
            checkpoint_version=cp.version,
            checkpoint=encoded.state,
            updated_at=datetime.now(UTC),
        )
    )
