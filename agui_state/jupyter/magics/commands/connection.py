"""``%state connect``, ``use``, ``connections``, ``close``."""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError

from agui_state.ids import validate_state_id
from agui_state.jupyter.magics.session import Session

__all__ = ["close", "connect", "connections", "use"]


def connect(session: Session, args: argparse.Namespace) -> None:
    """Open a backend URL as a named connection and make it current."""
    conn = session.registry.open(args.url, name=args.name, state_id=args.state)
    session.renderer.message(f"connected {conn.name!r}: {conn.url} (state {conn.state_id!r})")


def use(session: Session, args: argparse.Namespace) -> None:
    """Switch to a connection by name, else to a state id of the current connection."""
    if args.target in session.registry:
        conn = session.registry.use(args.target)
    else:
        conn = session.connection()
        conn.state_id = validate_state_id(args.target)
    exists = conn.backend.exists(conn.state_id)
    note = "" if exists else " (new: no versions yet)"
    session.renderer.message(f"using {conn.name!r}, state {conn.state_id!r}{note}")


def connections(session: Session, args: argparse.Namespace) -> Any:
    """The open connections as a frame (URLs redacted)."""
    import pandas as pd

    del args
    current = session.registry.current
    rows = [
        {
            "name": c.name,
            "url": c.url,
            "kind": c.kind,
            "state": c.state_id,
            "current": current is not None and c.name == current.name,
        }
        for c in session.registry
    ]
    frame = pd.DataFrame(rows, columns=["name", "url", "kind", "state", "current"])
    return session.renderer.result(frame)


def close(session: Session, args: argparse.Namespace) -> None:
    """Close a connection (the current one by default)."""
    name = args.name
    if name is None:
        current = session.registry.current
        if current is None:
            raise UsageError("no connection to close")
        name = current.name
    if name not in session.registry:
        known = ", ".join(repr(c.name) for c in session.registry) or "none"
        raise UsageError(f"%state close: no connection named {name!r} (open: {known})")
    session.registry.close(name)
    now = session.registry.current
    after = f"; current: {now.name!r}" if now is not None else ""
    session.renderer.message(f"closed {name!r}{after}")
