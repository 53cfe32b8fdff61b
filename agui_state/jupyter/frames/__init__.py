"""The data layer's DataFrames: one module per question asked of a source."""

from __future__ import annotations

from agui_state.jupyter.frames.blame import blame
from agui_state.jupyter.frames.changes import changes_frame
from agui_state.jupyter.frames.document import state_frame
from agui_state.jupyter.frames.history import history_frame
from agui_state.jupyter.frames.snapshots import snapshots_frame, stats_frame
from agui_state.jupyter.frames.states import states_frame

__all__ = [
    "blame",
    "changes_frame",
    "history_frame",
    "snapshots_frame",
    "state_frame",
    "states_frame",
    "stats_frame",
]
