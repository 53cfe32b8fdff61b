"""``snapshots_frame`` and ``stats_frame``: the snapshots of states, the figures of stores."""

from __future__ import annotations

from typing import Any

from agui_state.errors import ValidationError
from agui_state.jupyter.frames.build import build_frame, flatten_metadata
from agui_state.jupyter.source import borrow, document_bytes

__all__ = ["SNAPSHOT_COLUMNS", "snapshots_frame", "stats_frame"]

SNAPSHOT_COLUMNS = ("state_id", "id", "label", "version", "timestamp", "size_bytes", "metadata")


def snapshots_frame(source: Any, state_id: str | None = None) -> Any:
    """Return one row per snapshot.

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
        state_id: One state; ``None``: the store's own state, or every state
            of a backend.

    Returns:
        Columns ``state_id``, ``id``, ``label``, ``version`` (the version the
        snapshot shows), ``timestamp`` (UTC), ``size_bytes`` (its document as
        compact UTF-8 JSON) and ``metadata``; per state ordered by
        (version, timestamp, id).

    Raises:
        NotFoundError: Unknown ``state_id``.
        ValidationError: A bad source.

    Example:
        >>> from agui_state import StateStore
        >>> store = StateStore("t1")
        >>> _ = store.set("/a", 1)
        >>> _ = store.create_snapshot("first")
        >>> snapshots_frame(store)[["label", "version", "size_bytes"]].values.tolist()
        [['first', 1, 7]]
    """
    rows: list[dict[str, Any]] = []
    with borrow(source) as src:
        if state_id is None and src.default_state_id is None:
            ids = list(src.iter_state_ids())
        else:
            ids = [src.resolve_state_id(state_id)]
        for sid in ids:
            for snap in src.list_snapshots(sid):
                rows.append(
                    {
                        "state_id": sid,
                        "id": snap.id,
                        "label": snap.label,
                        "version": snap.version,
                        "timestamp": snap.timestamp,
                        "size_bytes": document_bytes(snap.state),
                        "metadata": snap.metadata,
                    }
                )
    return build_frame(
        SNAPSHOT_COLUMNS, rows, timestamps=("timestamp",), integers=("version", "size_bytes")
    )


def stats_frame(*sources: Any) -> Any:
    """Return one row per source: its ``stats()`` with nested figures flattened.

    Args:
        *sources: Storage URLs, backends, persistent stores (their
            ``stats()``: queue, writes and backend figures), stores or
            StateSources.

    Returns:
        Columns ``source`` (redacted URL or repr: never a password),
        ``kind``, then every stats key (nested ones dotted:
        ``backend.states``), in order of first appearance.

    Raises:
        ValidationError: No source given, or a bad one.

    Example:
        >>> from agui_state import StateStore
        >>> stats_frame(StateStore("t1"))[["kind", "state_id", "version"]].values.tolist()
        [['store', 't1', 0]]
    """
    if not sources:
        raise ValidationError("sources", "pass at least one source")
    rows: list[dict[str, Any]] = []
    for source in sources:
        with borrow(source) as src:
            stats = flatten_metadata(src.stats())
            rows.append({"source": src.label, "kind": src.kind, **stats})
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return build_frame(list(columns), rows)
