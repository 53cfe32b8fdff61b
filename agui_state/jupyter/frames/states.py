"""``states_frame``: one row per state of a source."""

from __future__ import annotations

from typing import Any

from agui_state.jupyter.frames.build import build_frame, check_limit
from agui_state.jupyter.source import StateSummary, borrow

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


def state_row(summary: StateSummary) -> dict[str, Any]:
    """The row of one state."""
    return {
        "state_id": summary.state_id,
        "version": summary.head,
        "versions": summary.versions,
        "created": summary.created,
        "updated": summary.updated,
        "snapshots": summary.snapshots,
        "size_bytes": summary.size_bytes,
    }


def states_frame(source: Any, *, prefix: str | None = None, limit: int | None = None) -> Any:
    """Return one row per state, in ascending id order.

    State ids are paged through the backend's state index, and each page is
    summarized in bulk (:meth:`StorageBackend.summarize_states`: two round
    trips per page of 500 on SQL and Redis): heads, oldest and head version
    times, snapshot counts and the current documents (for their size).

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
            A persistent store lists every state of its backend (the other
            frames default to the store's own state); a :class:`StateStore`
            lists its one state.
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
        rows = [state_row(summary) for summary in src.iter_summaries(prefix, cap)]
    return build_frame(
        STATES_COLUMNS,
        rows,
        timestamps=("created", "updated"),
        integers=("version", "versions", "snapshots", "size_bytes"),
    )
