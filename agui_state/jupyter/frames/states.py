"""``states_frame``: one row per state of a source."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from agui_state.jupyter.frames._pandas import build_frame, check_limit
from agui_state.jupyter.source import StateSource, borrow, document_bytes
from agui_state.models import StateVersion

__all__ = ["STATES_COLUMNS", "state_row", "states_frame"]

STATES_COLUMNS = (
    "state_id",
    "version",
    "versions",
    "created",
    "updated",
    "snapshots",
    "size_bytes",
)


def state_row(src: StateSource, state_id: str) -> dict[str, Any]:
    """The row of one state: head, stored versions, first/last commit time, snapshots, size."""
    head = src.head_version(state_id)
    first: StateVersion | None = src.first_version(state_id) if head else None
    last: StateVersion | None = None
    if first is not None:
        last = first if first.number == head else src.get_version(state_id, head)
    return {
        "state_id": state_id,
        "version": head,
        # Stored versions are gap-free from the oldest kept one to the head.
        "versions": head - first.number + 1 if first is not None else 0,
        "created": first.timestamp if first is not None else None,
        "updated": last.timestamp if last is not None else None,
        "snapshots": len(src.list_snapshots(state_id)),
        "size_bytes": document_bytes(src.get_state(state_id)),
    }


def _ids(src: StateSource, prefix: str | None, limit: int | None) -> Iterator[str]:
    ids = src.iter_state_ids(prefix)
    return ids if limit is None else islice(ids, limit)


def states_frame(source: Any, *, prefix: str | None = None, limit: int | None = None) -> Any:
    """Return one row per state, in ascending id order.

    State ids are paged through the backend's state index; per state, only
    its head, its oldest and newest stored versions, its snapshot list and
    its current document are read.

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
        prefix: Only states whose id starts with this.
        limit: At most this many states (``None``: all).

    Returns:
        Columns ``state_id``, ``version`` (head), ``versions`` (how many are
        stored), ``created`` and ``updated`` (commit times of the oldest stored
        and the head version, UTC; NaT without versions), ``snapshots``
        (count) and ``size_bytes`` (current document as compact UTF-8 JSON).

    Raises:
        ValidationError: A bad ``prefix``, ``limit`` or source.

    Example:
        >>> from agui_state import StateStore
        >>> store = StateStore("t1")
        >>> _ = store.set("/a", 1)
        >>> states_frame(store)[["state_id", "version", "size_bytes"]].to_dict("records")
        [{'state_id': 't1', 'version': 1, 'size_bytes': 7}]
    """
    cap = check_limit(limit)
    with borrow(source) as src:
        rows = [state_row(src, sid) for sid in _ids(src, prefix, cap)]
    return build_frame(
        STATES_COLUMNS,
        rows,
        timestamps=("created", "updated"),
        integers=("version", "versions", "snapshots", "size_bytes"),
    )
