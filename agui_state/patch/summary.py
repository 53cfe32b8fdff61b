"""One-line, human-readable summaries of a JSON Patch (for reprs, cards and frames)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MAX_SUMMARY_OPS", "summarize_ops"]

MAX_SUMMARY_OPS = 4
"""Operations named in a summary before the rest is counted (``+3 more``)."""


def summarize_ops(ops: Sequence[Any], *, limit: int = MAX_SUMMARY_OPS) -> str:
    """Return a one-line summary of a JSON Patch.

    Never raises on a malformed operation (a summary describes what is
    there): missing members show as ``?``.

    Args:
        ops: RFC 6902 operations.
        limit: How many operations to name before counting the rest.

    Returns:
        E.g. ``"replace /cart/total, add /cart/items/-"``; ``move`` and
        ``copy`` show ``from -> path``; ``"(no change)"`` for an empty patch.

    Example:
        >>> summarize_ops([{"op": "replace", "path": "/cart/total", "value": 3},
        ...                {"op": "add", "path": "/cart/items/-", "value": "x"}])
        'replace /cart/total, add /cart/items/-'
    """
    if not ops:
        return "(no change)"
    parts: list[str] = []
    for op in ops[:limit]:
        if not isinstance(op, Mapping):
            parts.append("?")
            continue
        name, path = str(op.get("op", "?")), str(op.get("path", "?"))
        if name in ("move", "copy"):
            parts.append(f"{name} {op.get('from', '?')} -> {path}")
        else:
            parts.append(f"{name} {path}")
    rest = len(ops) - len(parts)
    if rest > 0:
        parts.append(f"+{rest} more")
    return ", ".join(parts)
