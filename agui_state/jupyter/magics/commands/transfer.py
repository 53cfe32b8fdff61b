"""``%state migrate``, ``export``, ``import``."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from agui_state.backends import StorageBackend, create_backend
from agui_state.errors import ValidationError
from agui_state.jupyter.magics.progress import progress_bar
from agui_state.jupyter.magics.session import Session
from agui_state.migration import export_data, import_data
from agui_state.migration import migrate as migrate_states

__all__ = ["export", "import_file", "migrate"]

_COLUMNS = ["state_id", "source_head", "destination_head", "to_copy", "action"]


def _backend(session: Session, target: str) -> tuple[StorageBackend, bool]:
    """A connection name's backend (kept open), or a URL opened here (owned)."""
    if target in session.registry:
        return session.registry.get(target).backend, False
    return create_backend(target), True


def _plan_row(src: StorageBackend, dst: StorageBackend, sid: str) -> dict[str, Any]:
    """What migrating one state would do, read without writing anything."""
    src_head = src.head_version(sid)
    dst_head = dst.head_version(sid) if dst.exists(sid) else None
    if dst_head is None:
        return dict(zip(_COLUMNS, [sid, src_head, None, src_head, "copy"], strict=True))
    if dst_head > src_head:
        action = "conflict: destination is ahead"
    elif dst_head > 0 and dst.get_version(sid, dst_head).id != src.get_version(sid, dst_head).id:
        action = "conflict: histories diverge"
    else:
        action = "up to date" if dst_head == src_head else "copy"
    to_copy = max(src_head - dst_head, 0) if not action.startswith("conflict") else 0
    return dict(zip(_COLUMNS, [sid, src_head, dst_head, to_copy, action], strict=True))


def migrate(session: Session, args: argparse.Namespace) -> Any:
    """Copy states with history and snapshots between backends; a summary frame."""
    import pandas as pd

    src, own_src = _backend(session, args.source)
    try:
        dst, own_dst = _backend(session, args.destination)
        try:
            ids = list(args.states) if args.states else list(src.iter_states())
            rows = [_plan_row(src, dst, sid) for sid in ids]
            if args.dry_run:
                session.renderer.message(
                    f"dry run: would copy {sum(r['to_copy'] for r in rows)} version(s) "
                    f"of {len(rows)} state(s); nothing was written"
                )
                return session.renderer.result(pd.DataFrame(rows, columns=_COLUMNS))
            total = sum(r["to_copy"] for r in rows)
            with progress_bar(session.progress(), session.in_kernel(), total) as callback:
                report = migrate_states(src, dst, ids, progress=callback or False)
            for row in rows:
                sid = row["state_id"]
                row["action"] = "copied" if sid in report.copied else "up to date"
                row["destination_head"] = dst.head_version(sid)
            session.renderer.message(
                f"migrated {len(report.states)} state(s): {report.versions_copied} version(s), "
                f"{report.snapshots_copied} snapshot(s) copied; verified: {report.verified}"
            )
            frame = pd.DataFrame(rows, columns=_COLUMNS).rename(columns={"to_copy": "copied"})
            return session.renderer.result(frame)
        finally:
            if own_dst:
                dst.close()
    finally:
        if own_src:
            src.close()


def export(session: Session, args: argparse.Namespace) -> None:
    """Write the connection's states (all, or ``--states``) to a JSON file."""
    conn = session.connection()
    dump = export_data(conn.backend, args.states)
    path = Path(args.file)
    text = json.dumps(dump, ensure_ascii=False)
    # Temp file + rename: an interrupted export never leaves a half file under FILE.
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"%state export: cannot write {args.file!r}: {exc.strerror}") from None
    versions = sum(len(s["versions"]) for s in dump["states"])
    snaps = sum(len(s["snapshots"]) for s in dump["states"])
    session.renderer.message(
        f"exported {len(dump['states'])} state(s), {versions} version(s), "
        f"{snaps} snapshot(s) to {args.file}"
    )


def import_file(session: Session, args: argparse.Namespace) -> None:
    """Import a file written by ``%state export`` into the connection."""
    conn = session.connection()
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"%state import: cannot read {args.file!r}: {exc.strerror}") from None
    try:
        dump = json.loads(text)
    except ValueError as exc:
        raise ValidationError("file", f"{args.file!r} is not JSON: {exc}") from exc
    report = import_data(conn.backend, dump, overwrite=args.overwrite)
    session.renderer.message(
        f"imported {len(report.imported)} state(s) ({report.versions_written} version(s), "
        f"{report.snapshots_written} snapshot(s)); {len(report.skipped)} already present"
    )
