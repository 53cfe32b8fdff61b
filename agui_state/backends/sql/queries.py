"""Read statements of the SQL backend, and the helpers that shape them.

Each builder returns a SQLAlchemy Core statement over :class:`Tables`; values
are always bound parameters. Every statement is a primary-key or index
lookup / range scan (see ``schema`` and the query-plan tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from agui_state.backends.sql.codec import check_text
from agui_state.backends.sql.schema import Tables
from agui_state.errors import CorruptDataError, StateError, short_repr
from agui_state.models import State
from agui_state.patch import apply_patch

__all__ = [
    "checkpoint_column",
    "counts_query",
    "list_states_query",
    "prefix_upper_bound",
    "replay_state_rows",
    "state_query",
    "storable",
    "version_select",
]

_CODE_POINT_MAX = 0x10FFFF


def prefix_upper_bound(prefix: str) -> str | None:
    """Return the smallest string greater than every string starting with ``prefix``.

    ``state_id >= prefix AND state_id < bound`` is an index range scan and,
    unlike ``LIKE 'prefix%'``, has no wildcard characters to escape. ``None``
    means no upper bound (the prefix is all U+10FFFF, or empty).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code <= _CODE_POINT_MAX:
            if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored: skip past them
                code = 0xE000
            return "".join(chars) + chr(code)
    return None


def storable(value: str) -> bool:
    """Whether a text column could hold ``value`` (lookups of anything else find nothing)."""
    try:
        check_text("value", value)
    except StateError:
        return False
    return True


def _storable_floor(value: str) -> str:
    """Return the smallest storable ``s`` such that stored ids > ``value`` are exactly ids >= ``s``.

    ``value`` holds NUL or a lone surrogate, which cannot be sent to the
    database, and stored ids never contain either. So an id greater than
    ``value`` shares its text up to the first bad character and continues
    with a greater character: the floor is that text with the bad character
    bumped (past the surrogate block).
    """
    for i, ch in enumerate(value):
        if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF:
            return value[:i] + chr(1 if ch == "\x00" else 0xE000)
    return value


def list_states_query(
    tables: Tables, prefix: str | None, limit: int, after: str | None
) -> sa.Select[Any] | None:
    """Page of state ids in code-point order; None when nothing can match."""
    sid = tables.states.c.state_id
    stmt = sa.select(sid).order_by(sid).limit(limit)
    if after is not None:
        stmt = (
            stmt.where(sid > after)
            if storable(after)
            else stmt.where(sid >= _storable_floor(after))
        )
    if prefix:
        if not storable(prefix):
            return None  # no stored id can start with an unstorable string
        stmt = stmt.where(sid >= prefix)
        upper = prefix_upper_bound(prefix)
        if upper is not None:
            stmt = stmt.where(sid < upper)
    return stmt


def version_select(tables: Tables) -> sa.Select[Any]:
    """SELECT of the version columns :func:`~agui_state.backends.sql.codec.decode_version` reads."""
    v = tables.versions
    return sa.select(
        v.c.number, v.c.id, v.c.parent_id, v.c.ts, v.c.delta, v.c.metadata, v.c.checkpoint
    )


def checkpoint_column(tables: Tables) -> sa.ColumnElement[Any]:
    """The latest checkpoint of a states row, resolved (for a SELECT from states).

    ``states.checkpoint`` NULL means the checkpoint carried by versions row
    ``checkpoint_version`` (stored once, there): a primary-key lookup.
    """
    st, v = tables.states, tables.versions
    carried = (
        sa.select(v.c.checkpoint)
        .where(v.c.state_id == st.c.state_id, v.c.number == st.c.checkpoint_version)
        .correlate(st)
        .scalar_subquery()
    )
    return sa.func.coalesce(st.c.checkpoint, carried, type_=st.c.checkpoint.type)


def state_query(tables: Tables, state_id: str) -> sa.CompoundSelect[Any]:
    """The checkpoint (kind 0) and the tail deltas after it (kind 1), in one statement.

    One statement, so both come from the same database snapshot even in
    autocommit. Rows are unordered: :func:`replay_state_rows` sorts them (the
    tail is short; an ORDER BY would add a Sort over PostgreSQL's estimate).
    """
    st, v = tables.states, tables.versions
    cp = sa.select(
        sa.literal(0).label("kind"),
        st.c.checkpoint_version.label("number"),
        checkpoint_column(tables).label("doc"),
    ).where(st.c.state_id == state_id)
    tail = (
        sa.select(sa.literal(1), v.c.number, v.c.delta)
        .select_from(v.join(st, st.c.state_id == v.c.state_id))
        .where(
            v.c.state_id == state_id,
            v.c.number > st.c.checkpoint_version,
            # Always true. Bounding the range on both sides lowers
            # PostgreSQL's row estimate for the tail (1/9 of the state's
            # history instead of 1/3), which keeps it an index scan.
            v.c.number <= st.c.head,
        )
    )
    return sa.union_all(cp, tail)


def replay_state_rows(state_id: str, rows: Sequence[Any], backend: str) -> State | None:
    """Apply the tail deltas of :func:`state_query` rows to the checkpoint.

    Returns:
        The current state, or None when the state does not exist.

    Raises:
        CorruptDataError: Checkpoint not an object, a hole in the tail, or a
            delta that does not apply.
    """
    if not rows:
        return None
    ordered = sorted(rows, key=lambda row: (row[0], row[1]))
    where = f"state {short_repr(state_id, 60)}"
    base_version, state = int(ordered[0][1]), ordered[0][2]
    if not isinstance(state, dict):
        raise CorruptDataError(where, "checkpoint is not a JSON object", backend=backend)
    expected = base_version + 1
    for _, number, delta in ordered[1:]:
        if number != expected:
            raise CorruptDataError(
                where,
                f"version history has a hole: expected version {expected}, found {number}",
                backend=backend,
            )
        try:
            state = apply_patch(state, delta)
        except StateError as exc:
            raise CorruptDataError(
                f"{where} version {number}", f"stored delta does not apply: {exc}", backend=backend
            ) from exc
        expected += 1
    result: State = state
    return result


def counts_query(tables: Tables) -> sa.Select[Any]:
    """Row counts of the states, versions and snapshots tables, in one statement."""
    named = (
        ("states", tables.states),
        ("versions", tables.versions),
        ("snapshots", tables.snapshots),
    )
    return sa.select(
        *(sa.select(sa.func.count()).select_from(t).scalar_subquery().label(n) for n, t in named)
    )
