"""One-line summaries of JSON Patch operations and the pointers they touch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agui_state.errors import ValidationError
from agui_state.patch import parse_pointer
from agui_state.patch import touched_paths as _patch_touched_paths
from agui_state.patch.summary import MAX_SUMMARY_OPS
from agui_state.patch.summary import summarize_ops as _summarize

__all__ = ["MAX_SUMMARY_OPS", "related", "summarize_ops", "tokens_of", "touched_paths"]


def _as_ops(ops: Any) -> Sequence[Mapping[str, Any]]:
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise ValidationError("ops", f"must be a list of operations, got {type(ops).__name__}")
    return ops


def summarize_ops(ops: Sequence[Mapping[str, Any]], *, limit: int = MAX_SUMMARY_OPS) -> str:
    """Return a one-line summary of a JSON Patch.

    Args:
        ops: RFC 6902 operations.
        limit: How many operations to name before counting the rest.

    Returns:
        E.g. ``"replace /cart/total, add /cart/items/-"``; ``move`` and
        ``copy`` show ``from -> path``; ``"(no change)"`` for an empty patch.

    Raises:
        ValidationError: ``ops`` is not a list, or ``limit`` not a positive int.

    Example:
        >>> summarize_ops([{"op": "replace", "path": "/cart/total", "value": 3},
        ...                {"op": "add", "path": "/cart/items/-", "value": "x"}])
        'replace /cart/total, add /cart/items/-'
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit", f"must be a positive int, got {limit!r}")
    return _summarize(_as_ops(ops), limit=limit)


def touched_paths(ops: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the JSON Pointers a patch changes, each once, in operation order.

    ``move`` touches its ``from`` and its ``path``; ``test`` touches nothing.

    Raises:
        ValidationError: ``ops`` is not a list.
        PatchError: An operation is malformed.

    Example:
        >>> touched_paths([{"op": "move", "from": "/a", "path": "/b"},
        ...                {"op": "remove", "path": "/a"}])
        ['/a', '/b']
    """
    return list(dict.fromkeys(_patch_touched_paths(_as_ops(ops))))


def related(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether pointer tokens ``a`` and ``b`` are equal or one is a prefix of the other.

    A change at one of them can change the value at the other: ``replace
    /cart`` changes ``/cart/total`` and ``replace /cart/total`` changes ``/cart``.
    """
    n = min(len(a), len(b))
    return list(a[:n]) == list(b[:n])


def tokens_of(path: str, argument: str = "path") -> list[str]:
    """Parse a JSON Pointer argument.

    Raises:
        InvalidPathError: Malformed pointer (names it).
        ValidationError: Not a string (names ``argument``).
    """
    if not isinstance(path, str):
        raise ValidationError(argument, f"must be a JSON Pointer string, got {path!r}")
    return parse_pointer(path)
