"""The Jupyter face of agui-state: states, history, changes and diffs as DataFrames.

Every function takes a *source*: a storage URL, a
:class:`~agui_state.backends.StorageBackend`, a
:class:`~agui_state.persistent.PersistentStateStore`, an in-memory
:class:`~agui_state.store.StateStore` or an open :class:`StateSource`, and
works the same on every backend. They only read; a backend opened from a URL
is closed again before they return.

pandas is imported when a frame is built, not when this package is imported,
and never by ``import agui_state``.

Example:
    >>> from agui_state import StateStore
    >>> from agui_state.jupyter import history_frame
    >>> store = StateStore("thread-1")
    >>> _ = store.set("/cart", {"total": 3}, metadata={"run_id": "run-1"})
    >>> _ = store.set("/cart/total", 5, metadata={"run_id": "run-2"})
    >>> history_frame(store)[["version", "run_id", "summary"]].values.tolist()
    [[2, 'run-2', 'replace /cart/total'], [1, 'run-1', 'add /cart']]
"""

from __future__ import annotations

from typing import Any

from agui_state.jupyter.diff import StateDiff, diff
from agui_state.jupyter.frames import (
    blame,
    changes_frame,
    history_frame,
    snapshots_frame,
    state_frame,
    states_frame,
    stats_frame,
)
from agui_state.jupyter.ops import summarize_ops, touched_paths
from agui_state.jupyter.source import StateSource, open_source

__all__ = [
    "StateDiff",
    "StateInspector",
    "StateSource",
    "blame",
    "changes_frame",
    "diff",
    "history_frame",
    "inspect",
    "open_source",
    "snapshots_frame",
    "state_frame",
    "states_frame",
    "stats_frame",
    "summarize_ops",
    "touched_paths",
]


def __getattr__(name: str) -> Any:
    # The inspector is imported on first use: anywidget and ipywidgets stay
    # unimported for users of the frames alone.
    if name in ("StateInspector", "inspect"):
        from agui_state.jupyter import inspector

        return getattr(inspector, name)
    raise AttributeError(f"module 'agui_state.jupyter' has no attribute {name!r}")
