"""Bulk summaries of a page of states: two statements, whatever the page size.

One statement reads, per state, the head, the latest checkpoint (resolved as
:func:`~.queries.checkpoint_column` does), the oldest stored version number,
the commit times of the oldest and head versions, and the snapshot count,
each a correlated lookup on a primary key or index. A second reads the tail
deltas after each checkpoint, to rebuild the current documents (their size
is part of the summary). Ids are bound parameters, never SQL text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agui_state.backends.sql.queries import checkpoint_column, replay_state_rows
from agui_state.backends.sql.schema import Tables
from agui_state.backends.summary import StateSummary, document_bytes

__all__ = ["read_summaries"]


def _queries(tables: Tables, ids: Sequence[str]) -> tuple[sa.Select[Any], sa.Select[Any]]:
    st, v, sn = tables.states, tables.versions, tables.snapshots
    mine = v.c.state_id == st.c.state_id
    first = sa.select(sa.func.min(v.c.number)).where(mine).correlate(st).scalar_subquery()
    first_ts = (
        sa.select(v.c.ts).where(mine).order_by(v.c.number).limit(1).correlate(st).scalar_subquery()
    )
    last_ts = sa.select(v.c.ts).where(mine, v.c.number == st.c.head).correlate(st).scalar_subquery()
    snaps = (
        sa.select(sa.func.count())
        .select_from(sn)
        .where(sn.c.state_id == st.c.state_id)
        .correlate(st)
        .scalar_subquery()
    )
    heads = sa.select(
        st.c.state_id,
        st.c.head,
        st.c.checkpoint_version,
        checkpoint_column(tables).label("doc"),
        first.label("first"),
        sa.type_coerce(first_ts, v.c.ts.type).label("first_ts"),
        sa.type_coerce(last_ts, v.c.ts.type).label("last_ts"),
        snaps.label("snaps"),
    ).where(st.c.state_id.in_(list(ids)))
    tails = (
        sa.select(v.c.state_id, v.c.number, v.c.delta)
        .select_from(v.join(st, mine))
        .where(
            v.c.state_id.in_(list(ids)),
            v.c.number > st.c.checkpoint_version,
            v.c.number <= st.c.head,
        )
    )
    return heads, tails


def read_summaries(
    conn: Connection, tables: Tables, ids: Sequence[str], backend: str
) -> list[StateSummary]:
    """Summarize the existing states among ``ids`` (in ``ids`` order) on one connection."""
    if not ids:
        return []
    heads_q, tails_q = _queries(tables, ids)
    heads = {row.state_id: row for row in conn.execute(heads_q).all()}
    tails: dict[str, list[tuple[int, int, Any]]] = defaultdict(list)
    for sid, number, delta in conn.execute(tails_q).all():
        tails[sid].append((1, int(number), delta))
    out: list[StateSummary] = []
    for sid in ids:
        row = heads.get(sid)
        if row is None:
            continue
        rows = [(0, int(row.checkpoint_version), row.doc), *tails.get(sid, [])]
        doc = replay_state_rows(sid, rows, backend)
        head = int(row.head)
        first = None if row.first is None else int(row.first)
        out.append(
            StateSummary(
                sid,
                head,
                head - first + 1 if first is not None else 0,
                row.first_ts if first is not None else None,
                row.last_ts if first is not None else None,
                int(row.snaps),
                document_bytes(doc),
            )
        )
    return out
