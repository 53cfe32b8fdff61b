"""``%state stats``, ``ping``, ``browse``."""

from __future__ import annotations

import argparse
from typing import Any

from agui_state.jupyter.magics.session import Session

__all__ = ["browse", "ping", "stats"]


def stats(session: Session, args: argparse.Namespace) -> Any:
    """Figures of the connection's backend (no secrets), as the data layer's stats frame."""
    from agui_state.jupyter import stats_frame

    del args
    conn = session.connection()
    return session.renderer.result(stats_frame(conn.backend))


def ping(session: Session, args: argparse.Namespace) -> None:
    """Check that the backend answers (a real round trip)."""
    del args
    conn = session.connection()
    conn.backend.ping()
    session.renderer.message(f"ping {conn.name!r} ok: {conn.url}")


def browse(session: Session, args: argparse.Namespace) -> Any:
    """Open the state inspector widget on the current state."""
    from agui_state.jupyter.inspector import inspect

    conn = session.connection()
    widget = inspect(conn.backend, conn.state_id)
    if args.pointer:
        widget.pinned = args.pointer  # the inspector's "pin a sub-path"
    # Returned, never displayed here: it displays itself when it ends the cell,
    # and a display() as well would show a second copy.
    return widget
