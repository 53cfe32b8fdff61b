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
    from agui_state.jupyter import inspect

    conn = session.connection()
    kwargs: dict[str, Any] = {"state_id": conn.state_id}
    if args.pointer:
        kwargs["path"] = args.pointer
    widget = inspect(conn.backend, **kwargs)
    # A widget is always returned: it displays itself when it ends the cell,
    # and a display() here would show a second, dead copy.
    return widget
