"""``%state states``, ``get``, ``set``, ``delete`` and ``%%state patch``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from IPython.core.error import UsageError

from agui_state.errors import ValidationError
from agui_state.jupyter.magics.parsing import parse_meta, parser_for
from agui_state.jupyter.magics.render import Preview
from agui_state.jupyter.magics.session import Session
from agui_state.models import StateVersion
from agui_state.patch import apply_patch, diff, resolve, touched_paths

__all__ = ["delete", "get", "parse_patch_body", "patch", "set_value", "states"]


def states(session: Session, args: argparse.Namespace) -> Any:
    """The states (thread ids) of the connection, as the data layer's states frame."""
    from agui_state.jupyter import states_frame

    conn = session.connection()
    return session.renderer.result(states_frame(conn.backend, prefix=args.prefix, limit=args.limit))


def get(session: Session, args: argparse.Namespace) -> Any:
    """The value at a pointer of the current state (at ``--version`` if given)."""
    conn = session.connection()
    sid = conn.state_id
    if args.version is None:
        doc = conn.backend.get_state(sid)
    else:
        doc = conn.backend.state_at(sid, args.version)
    return session.renderer.result(resolve(doc, args.pointer))


def _written(session: Session, version: StateVersion) -> None:
    what = ", ".join(f"{op['op']} {op['path']}" for op in version.delta[:3])
    more = f" (+{len(version.delta) - 3} more)" if len(version.delta) > 3 else ""
    session.renderer.message(
        f"state {version.state_id!r} -> version {version.number}: {what or 'no change'}{more}"
    )


def set_value(session: Session, args: argparse.Namespace) -> None:
    """Set the value at a pointer; the value is the rest of the line, as JSON."""
    try:
        value = json.loads(args.value)
    except ValueError as exc:
        usage = parser_for("set").format_usage().strip()
        raise UsageError(
            f"{usage}\n%state set: JSON value {args.value!r} is not JSON ({exc}); "
            'quote strings: %state set /name "Ada"'
        ) from None
    meta = parse_meta(args.meta, args.run_id)
    with session.writer() as store:
        version = store.set(args.pointer, value, metadata=meta)
    _written(session, version)


def delete(session: Session, args: argparse.Namespace) -> None:
    """Delete the value at a pointer."""
    meta = parse_meta(args.meta, args.run_id)
    with session.writer() as store:
        version = store.delete(args.pointer, metadata=meta)
    _written(session, version)


def parse_patch_body(body: str) -> list[dict[str, Any]]:
    """Read a cell body: a JSON array of operations, or one JSON object per line.

    Raises:
        ValidationError: The body is not JSON, or not operations (field ``patch``).
    """
    text = body.strip()
    if not text:
        raise ValidationError("patch", "the cell is empty: write a JSON array of operations")
    if text.startswith("["):
        try:
            ops = json.loads(text)
        except ValueError as exc:
            raise ValidationError("patch", f"the cell is not a JSON array: {exc}") from exc
    else:
        ops = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                ops.append(json.loads(line))
            except ValueError as exc:
                reason = f"line {number} is not a JSON object: {exc}"
                raise ValidationError("patch", reason) from exc
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise ValidationError("patch", "expected a JSON array of operation objects")
    return ops


def patch(session: Session, args: argparse.Namespace) -> Any:
    """Apply the cell's JSON Patch as one version (``--dry-run``: show the diff only)."""
    body: str | None = getattr(args, "body", None)
    if body is None:
        usage = parser_for("patch").format_usage().strip()
        raise UsageError(f"{usage}\npatch is a cell magic: %%state patch, then the operations")
    ops = parse_patch_body(body)
    meta = parse_meta(args.meta, args.run_id)
    if args.dry_run:
        conn = session.connection()
        old = conn.backend.get_state(conn.state_id) if conn.backend.exists(conn.state_id) else {}
        new = apply_patch(old, ops)  # raises PatchError naming the op: nothing is written
        changed = list(dict.fromkeys(touched_paths(ops)))
        title = f"patch of state {conn.state_id!r} (dry run, touches {', '.join(changed)})"
        return session.renderer.result(Preview(title, diff(old, new), old, new))
    with session.writer() as store:
        version = store.apply_patch(ops, metadata=meta)
    _written(session, version)
    return None
