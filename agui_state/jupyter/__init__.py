"""Jupyter face of agui-state (the data layer lands here from the ``data`` branch)."""

from __future__ import annotations

from typing import Any

__all__ = ["StateInspector", "inspect"]


def __getattr__(name: str) -> Any:
    # Lazy: importing agui_state.jupyter must not import anywidget.
    if name in ("StateInspector", "inspect"):
        from agui_state.jupyter import inspector

        return getattr(inspector, name)
    raise AttributeError(f"module 'agui_state.jupyter' has no attribute {name!r}")
