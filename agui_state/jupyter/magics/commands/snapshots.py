"""``%state snapshot``, ``snapshots``, ``restore``."""

from __future__ import annotations

import argparse
from typing import Any

from agui_state.jupyter.magics.parsing import parse_meta
from agui_state.jupyter.magics.render import Preview
from agui_state.jupyter.magics.session import Session
from agui_state.patch import diff

__all__ = ["restore", "snapshot", "snapshots"]


def snapshot(session: Session, args: argparse.Namespace) -> None:
    """Take a snapshot of the current state, saved in the backend."""
    with session.writer() as store:
        snap = store.create_persistent_snapshot(label=args.label)
    label = f" {snap.label!r}" if snap.label else ""
    session.renderer.message(
        f"snapshot{label} {snap.id} of state {snap.state_id!r} at version {snap.version}"
    )


def snapshots(session: Session, args: argparse.Namespace) -> Any:
    """The current state's snapshots, as the data layer's snapshots frame."""
    from agui_state.jupyter import snapshots_frame

    del args
    conn = session.connection()
    return session.renderer.result(snapshots_frame(conn.backend, conn.state_id))


def restore(session: Session, args: argparse.Namespace) -> Any:
    """Restore a snapshot as a new version; without ``--yes`` only show what would change."""
    conn = session.connection()
    snap = conn.backend.get_snapshot(conn.state_id, args.snapshot_id)
    if not args.yes:
        current = conn.backend.get_state(conn.state_id)
        title = f"restore snapshot {snap.id} (version {snap.version}) of state {conn.state_id!r}"
        note = "nothing was restored: add --yes to restore"
        preview = Preview(title, diff(current, snap.state), current, snap.state, note)
        return session.renderer.result(preview)
    meta = parse_meta(args.meta, args.run_id)
    with session.writer(conn) as store:
        version = store.restore_persistent_snapshot(snap.id, metadata=meta)
    session.renderer.message(
        f"restored snapshot {snap.id} (version {snap.version}) of state "
        f"{conn.state_id!r} as version {version.number}"
    )
    return None
