"""``history_frame``: one row per version, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agui_state.errors import ValidationError
from agui_state.jupyter.frames.build import (
    build_frame,
    check_limit,
    flatten_metadata,
    run_id_of,
)
from agui_state.jupyter.ops import related, summarize_ops, tokens_of
from agui_state.jupyter.source import PAGE_SIZE, StateSource, borrow
from agui_state.models import StateVersion
from agui_state.patch import parse_pointer

__all__ = ["HISTORY_COLUMNS", "history_frame", "version_row"]

HISTORY_COLUMNS = ("state_id", "version", "id", "parent_id", "timestamp", "run_id")
"""The fixed leading columns; metadata columns follow, then ``ops``, ``summary``, ``paths``."""
TRAILING_COLUMNS = ("ops", "summary", "paths")


def version_row(version: StateVersion) -> dict[str, Any]:
    """The row of one version (metadata flattened; a key clashing with a column is prefixed)."""
    row: dict[str, Any] = {
        "state_id": version.state_id,
        "version": version.number,
        "id": version.id,
        "parent_id": version.parent_id,
        "timestamp": version.timestamp,
        "run_id": run_id_of(version),
        "ops": len(version.delta),
        "summary": summarize_ops(version.delta),
        "paths": _stored_paths(version.delta),
    }
    fixed = set(row)
    for key, value in flatten_metadata(version.metadata).items():
        if key == "run_id":
            continue
        row[f"metadata.{key}" if key in fixed else key] = value
    return row


def _stored_paths(delta: list[dict[str, Any]]) -> list[str]:
    """:func:`touched_paths` of a stored delta, without re-validating it.

    Stored deltas were validated when written; this is the per-row hot path.
    """
    out: dict[str, None] = {}
    for op in delta:
        name = op.get("op")
        if name == "test":
            continue
        if name == "move" and isinstance(op.get("from"), str):
            out[op["from"]] = None
        if isinstance(op.get("path"), str):
            out[op["path"]] = None
    return list(out)


def _state_ids(src: StateSource, state_id: str | None) -> list[str]:
    if state_id is not None or src.default_state_id is not None:
        sid = src.resolve_state_id(state_id)
        src.head_version(sid)  # unknown state: NotFoundError naming it
        return [sid]
    return list(src.iter_state_ids())


def _touches(version: StateVersion, tokens: list[str]) -> bool:
    return any(related(parse_pointer(p), tokens) for p in _stored_paths(version.delta))


def history_frame(
    source: Any,
    state_id: str | None = None,
    *,
    limit: int | None = 1000,
    before: int | datetime | None = None,
    since: int | datetime | None = None,
    path: str | None = None,
    run_id: str | None = None,
) -> Any:
    """Return the version history as a DataFrame, one row per version, newest first.

    Reads pages of the backend's version index, newest first, and stops as
    soon as ``limit`` rows are found: a 100k-version history costs one page.

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
        state_id: One state; ``None``: the source's own state (a store), or
            every state of a backend (rows then sorted newest first by time).
        limit: At most this many rows (``None``: all).
        before: Only versions numbered below this int, or committed before
            this aware datetime.
        since: Only versions numbered at or above this int, or committed at
            or after this aware datetime.
        path: Only versions that touched this JSON Pointer, a parent of it or
            a child of it (``replace /cart`` touches ``/cart/total``).
        run_id: Only versions of this run (metadata ``run_id`` or the AG-UI
            event's ``agui.run_id``).

    Returns:
        Columns ``state_id``, ``version``, ``id``, ``parent_id``,
        ``timestamp`` (UTC), ``run_id``, then one column per metadata key
        (nested keys dotted: ``agui.type``), then ``ops`` (count),
        ``summary`` (one line) and ``paths`` (the pointers touched).

    Raises:
        NotFoundError: Unknown ``state_id``.
        InvalidPathError: Malformed ``path``.
        ValidationError: A bad ``limit``, ``before``, ``since`` or ``run_id``, or source.

    Example:
        >>> from agui_state import StateStore
        >>> store = StateStore("t1")
        >>> _ = store.set("/cart", {"total": 3}, metadata={"run_id": "run-1"})
        >>> history_frame(store)[["version", "run_id", "summary"]].to_dict("records")
        [{'version': 1, 'run_id': 'run-1', 'summary': 'add /cart'}]
    """
    cap = check_limit(limit)
    tokens = tokens_of(path) if path is not None else None
    if run_id is not None and not isinstance(run_id, str):
        raise ValidationError("run_id", f"must be a string, got {run_id!r}")
    filtered = tokens is not None or run_id is not None
    page = PAGE_SIZE if filtered or cap is None else max(1, min(cap, PAGE_SIZE))
    rows: list[dict[str, Any]] = []
    with borrow(source) as src:
        ids = _state_ids(src, state_id)
        for sid in ids:
            found = 0
            if cap == 0:
                break
            for version in src.iter_history(sid, before=before, since=since, page_size=page):
                if run_id is not None and run_id_of(version) != run_id:
                    continue
                if tokens is not None and not _touches(version, tokens):
                    continue
                rows.append(version_row(version))
                found += 1
                if cap is not None and found >= cap:
                    break
    if len(ids) > 1:
        # Newest first across states; ties by state id, then newest version (stable sorts).
        rows.sort(key=lambda r: (r["state_id"], -r["version"]))
        rows.sort(key=lambda r: r["timestamp"], reverse=True)
        if cap is not None:
            rows = rows[:cap]
    extra: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in HISTORY_COLUMNS and key not in TRAILING_COLUMNS:
                extra[key] = None
    columns = [*HISTORY_COLUMNS, *sorted(extra), *TRAILING_COLUMNS]
    return build_frame(columns, rows, timestamps=("timestamp",), integers=("version", "ops"))
