"""``state_frame``: a document flattened to ``path``, ``type``, ``value`` rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agui_state.errors import InvalidPathError
from agui_state.jupyter.frames.build import build_frame
from agui_state.jupyter.ops import tokens_of
from agui_state.jupyter.source import borrow
from agui_state.patch import format_pointer
from agui_state.patch.pointer import StepError, lookup

__all__ = ["STATE_COLUMNS", "json_type", "leaves", "state_frame"]

STATE_COLUMNS = ("path", "type", "value")


def json_type(value: Any) -> str:
    """The JSON type name of a value: object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def leaves(value: Any) -> Iterator[tuple[list[str], Any]]:
    """Yield ``(tokens relative to value, leaf)``: scalars and empty containers, in order.

    Iterative, so a deeply nested document cannot hit the recursion limit.
    """
    stack: list[tuple[list[str], Any]] = [([], value)]
    while stack:
        at, node = stack.pop()
        if isinstance(node, dict) and node:
            stack.extend(([*at, key], node[key]) for key in reversed(list(node)))
        elif isinstance(node, list) and node:
            stack.extend(([*at, str(i)], node[i]) for i in range(len(node) - 1, -1, -1))
        else:
            yield at, node


def state_frame(
    source: Any, state_id: str | None, *, version: int | None = None, path: str = ""
) -> Any:
    """Return a document flattened to one row per leaf, for filtering with pandas.

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
        state_id: The state (``None``: the store's own state).
        version: The document at this version (default: the current one).
        path: Only the subtree at this JSON Pointer.

    Returns:
        Columns ``path`` (full JSON Pointer), ``type`` (``string``,
        ``number``, ``boolean``, ``null``, or ``object``/``array`` for an
        empty one) and ``value``; rows in document order.

    Raises:
        NotFoundError: Unknown state, or ``version`` out of range.
        InvalidPathError: ``path`` is malformed or absent.
        ValidationError: A bad ``version`` or source.

    Example:
        >>> from agui_state import StateStore
        >>> store = StateStore("t1")
        >>> _ = store.set("/cart", {"total": 3, "items": []})
        >>> state_frame(store, None).values.tolist()
        [['/cart/total', 'number', 3], ['/cart/items', 'array', []]]
    """
    tokens = tokens_of(path)
    with borrow(source) as src:
        sid = src.resolve_state_id(state_id)
        doc = src.get_state(sid) if version is None else src.state_at(sid, version)
    try:
        sub = lookup(doc, tokens)
    except StepError as exc:
        raise InvalidPathError(path, exc.reason) from None
    rows = [
        {"path": format_pointer([*tokens, *rel]), "type": json_type(leaf), "value": leaf}
        for rel, leaf in leaves(sub)
    ]
    return build_frame(STATE_COLUMNS, rows)
