"""``changes_frame``: every version that changed the value at one JSON Pointer."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any

from agui_state.errors import ValidationError
from agui_state.jupyter.frames.build import build_frame, check_limit, run_id_of
from agui_state.jupyter.ops import related, tokens_of
from agui_state.jupyter.replay import walk_where
from agui_state.jupyter.source import StateSource, borrow
from agui_state.models import StateVersion
from agui_state.patch import json_equal, parse_pointer
from agui_state.patch.pointer import StepError, lookup
from agui_state.patch.summary import summarize_ops

__all__ = ["CHANGES_COLUMNS", "changes_frame"]

CHANGES_COLUMNS = (
    "state_id",
    "version",
    "timestamp",
    "run_id",
    "change",
    "old",
    "new",
    "summary",
    "id",
)
_ABSENT: Any = object()
# Operations that insert into or remove from an array shift its later
# elements: a change at /items/0 can change the value at /items/3.
_SHIFTING = frozenset({"add", "remove", "move", "copy"})


def _value(doc: Any, tokens: list[str]) -> Any:
    try:
        return lookup(doc, tokens)
    except StepError:
        return _ABSENT


def _may_change(version: StateVersion, tokens: list[str]) -> bool:
    """Whether ``version`` could have changed the value at ``tokens`` (cheap, conservative)."""
    for op in version.delta:
        name = op.get("op")
        if name == "test":
            continue
        for key in ("path", "from") if name == "move" else ("path",):
            touched = parse_pointer(op[key])
            if name in _SHIFTING and touched and _is_position(touched[-1]):
                touched = touched[:-1]
            if related(touched, tokens):
                return True
    return False


_END = "-"  # the past-the-end array position


def _is_position(token: str) -> bool:
    return token in (_END,) or (token.isascii() and token.isdigit())


def _ids(src: StateSource, state_ids: Any) -> list[str]:
    if state_ids is None:
        if src.default_state_id is not None:
            return [src.default_state_id]
        return list(src.iter_state_ids())
    if isinstance(state_ids, str):
        state_ids = [state_ids]
    if not isinstance(state_ids, Sequence) or not all(isinstance(s, str) for s in state_ids):
        raise ValidationError("state_ids", f"must be a list of state ids, got {state_ids!r}")
    out = [src.resolve_state_id(s) for s in state_ids]
    for sid in out:
        src.head_version(sid)  # unknown: NotFoundError naming it
    return out


def changes_frame(
    source: Any,
    path: str,
    *,
    state_ids: Sequence[str] | str | None = None,
    limit: int | None = None,
) -> Any:
    """Return every version that changed the value at ``path``, with its old and new value.

    The values come from replaying each state's stored history forward from
    its start, never from guessing at the operations (versions that cannot
    touch ``path`` are replayed only when needed, and skipped entirely when
    a checkpoint comes first): a ``replace /cart`` that changes ``/cart/total`` is found,
    a ``replace /cart/total`` with an equal value is not, and an element
    shifted by an insertion earlier in its array is. Only two documents are
    held at a time; the cost is linear in the number of stored versions.

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
        path: The JSON Pointer to follow (``""``: the whole document).
        state_ids: States to look in (a list or one id); ``None``: the store's
            own state, or every state of a backend.
        limit: Keep only the newest ``limit`` changes (``None``: all).

    Returns:
        One row per change, oldest first (across states: by time): columns
        ``state_id``, ``version``, ``timestamp`` (UTC), ``run_id``,
        ``change`` (``"added"``, ``"removed"`` or ``"changed"``), ``old`` and
        ``new`` (the values at ``path``; ``None`` when absent), ``summary``
        (the version's operations) and ``id`` (the version id).

    Raises:
        InvalidPathError: Malformed ``path``.
        NotFoundError: An unknown state id.
        ValidationError: A bad ``state_ids``, ``limit`` or source.

    Example:
        >>> from agui_state import StateStore
        >>> store = StateStore("t1")
        >>> _ = store.set("/cart", {"total": 3}, metadata={"run_id": "run-1"})
        >>> _ = store.set("/cart", {"total": 5}, metadata={"run_id": "run-2"})
        >>> changes_frame(store, "/cart/total")[["version", "run_id", "old", "new"]].values.tolist()
        [[1, 'run-1', None, 3], [2, 'run-2', 3, 5]]
    """
    tokens = tokens_of(path)
    cap = check_limit(limit)
    rows: list[dict[str, Any]] = []
    with borrow(source) as src:
        for sid in _ids(src, state_ids):
            # Per state, only the newest ``cap`` changes can make the cut.
            found: deque[dict[str, Any]] = deque(maxlen=cap)
            wanted = partial(_may_change, tokens=tokens)
            for version, before, after in walk_where(src, sid, wanted):
                old, new = _value(before, tokens), _value(after, tokens)
                if old is _ABSENT and new is _ABSENT:
                    continue
                if old is not _ABSENT and new is not _ABSENT and json_equal(old, new):
                    continue
                change = "added" if old is _ABSENT else "removed" if new is _ABSENT else "changed"
                found.append(
                    {
                        "state_id": sid,
                        "version": version.number,
                        "timestamp": version.timestamp,
                        "run_id": run_id_of(version),
                        "change": change,
                        "old": None if old is _ABSENT else old,
                        "new": None if new is _ABSENT else new,
                        "summary": summarize_ops(version.delta),
                        "id": version.id,
                    }
                )
            rows.extend(found)
    rows.sort(key=lambda r: (r["timestamp"], r["state_id"], r["version"]))
    if cap is not None:
        rows = rows[len(rows) - cap :]
    return build_frame(CHANGES_COLUMNS, rows, timestamps=("timestamp",), integers=("version",))
