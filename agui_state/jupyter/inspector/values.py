"""Short, JSON-safe text forms of state values for the inspector's rows.

Values reach the browser only as these strings (rendered there as text, never
as HTML), truncated so that a 5 MB document never travels whole.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["PREVIEW_CHARS", "pointer_join", "preview"]

PREVIEW_CHARS = 300
"""Longest value text sent for one row; the rest is elided with an ellipsis."""


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """Return compact JSON for ``value``, cut at ``limit`` characters.

    Containers are summarised by their size first, so a huge object is never
    serialised just to be cut.
    """
    if isinstance(value, dict) and len(value) > 50:
        return f"{{… {len(value)} keys}}"
    if isinstance(value, list) and len(value) > 50:
        return f"[… {len(value)} items]"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def pointer_join(base: str, token: str | int) -> str:
    """Return the JSON Pointer of ``token`` under ``base`` (escaping ``~`` and ``/``)."""
    text = str(token).replace("~", "~0").replace("/", "~1")
    return f"{base}/{text}"
