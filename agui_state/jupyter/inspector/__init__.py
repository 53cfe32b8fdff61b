"""The state inspector: an anywidget to browse states, step through versions, diff and restore.

``StateInspector(source, state_id=None)`` (or :func:`inspect`) opens it on a
backend URL, a backend, a persistent store or an in-memory store. Python
computes every view (:mod:`.session`: pages, tree, search, diff, stats); the
shipped ES module (``static/inspector.js``) only draws what is visible.
Importing this package needs the ``jupyter`` extra (anywidget, ipywidgets).
"""

from __future__ import annotations

from agui_state.jupyter.inspector.widget import StateInspector, inspect

__all__ = ["StateInspector", "inspect"]
