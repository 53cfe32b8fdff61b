"""The data layer's DataFrames: one module per question asked of a source."""

from __future__ import annotations

from agui_state.jupyter.frames.history import history_frame
from agui_state.jupyter.frames.states import states_frame

__all__ = ["history_frame", "states_frame"]
