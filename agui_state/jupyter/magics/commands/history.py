"""``%state history``, ``show``, ``diff``, ``changes``, ``blame``: the data layer's answers."""

from __future__ import annotations

import argparse
from typing import Any

from agui_state.jupyter.magics.session import Session

__all__ = ["blame", "changes", "diff", "history", "show"]


def history(session: Session, args: argparse.Namespace) -> Any:
    """Versions of the current state (or of all states), newest first, as a frame."""
    from agui_state.jupyter import history_frame

    conn = session.connection()
    frame = history_frame(
        conn.backend,
        None if args.all_states else conn.state_id,
        limit=args.limit,
        path=args.path,
        run_id=args.run,
    )
    return session.renderer.result(frame)


def show(session: Session, args: argparse.Namespace) -> Any:
    """One version (by number or id), with its rich display."""
    conn = session.connection()
    return session.renderer.result(conn.backend.get_version(conn.state_id, args.version))


def diff(session: Session, args: argparse.Namespace) -> Any:
    """What changed between A and B (versions or snapshot ids; B omitted: A's parent -> A)."""
    from agui_state.jupyter import diff as state_diff

    conn = session.connection()
    return session.renderer.result(state_diff(conn.backend, conn.state_id, args.a, args.b))


def changes(session: Session, args: argparse.Namespace) -> Any:
    """Every change of one pointer over time, in this state (or all states)."""
    from agui_state.jupyter import changes_frame

    conn = session.connection()
    ids = None if args.all_states else [conn.state_id]
    return session.renderer.result(
        changes_frame(conn.backend, args.pointer, state_ids=ids, limit=args.limit)
    )


def blame(session: Session, args: argparse.Namespace) -> Any:
    """Which version last set each value under a pointer."""
    from agui_state.jupyter import blame as state_blame

    conn = session.connection()
    return session.renderer.result(
        state_blame(conn.backend, conn.state_id, args.pointer, version=args.version)
    )
