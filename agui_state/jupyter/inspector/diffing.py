"""The Diff tab: side-by-side rows between two documents.

Unlike a minimal RFC 6902 patch (which shifts array indices), arrays whose
items are all objects with a unique ``id`` are matched by that id, so an
item inserted at the front shows as one added item, not as every item
changed. Subtrees shared by both documents (``old is new``, as structural
sharing leaves untouched parts of consecutive versions) are skipped without
being walked.
"""

from __future__ import annotations

from typing import Any

from agui_state.jupyter.inspector.values import pointer_join, preview
from agui_state.patch import json_equal

__all__ = ["MAX_DIFF_ROWS", "diff_rows"]

MAX_DIFF_ROWS = 1000
"""Most rows computed for one diff; the result says when it was cut."""


class _Rows:
    def __init__(self, limit: int) -> None:
        self.items: list[dict[str, Any]] = []
        self.limit = limit
        self.cut = False

    def add(self, op: str, path: str, label: str, old: Any, new: Any) -> None:
        if len(self.items) >= self.limit:
            self.cut = True
            return
        self.items.append(
            {
                "op": op,
                "path": path,
                "label": label,
                "old": None if op == "add" else preview(old),
                "new": None if op == "remove" else preview(new),
            }
        )


def diff_rows(old: Any, new: Any, limit: int = MAX_DIFF_ROWS) -> tuple[list[dict[str, Any]], bool]:
    """Return the rows that take ``old`` to ``new``, and whether the list was cut.

    Each row: ``op`` (``add``/``remove``/``replace``), ``path`` (a JSON
    Pointer into the document it exists in: ``new`` for add/replace, ``old``
    for remove), ``label`` (the path with id-matched array items shown as
    ``[id=…]``), ``old`` and ``new`` (text previews, None when absent).
    """
    rows = _Rows(limit)
    _diff(old, new, "", "", rows)
    return rows.items, rows.cut


def _diff(old: Any, new: Any, path: str, label: str, rows: _Rows) -> None:
    if old is new or rows.cut:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in old.items():
            if key not in new:
                rows.add("remove", pointer_join(path, key), pointer_join(label, key), value, None)
        for key, value in new.items():
            sub, sub_label = pointer_join(path, key), pointer_join(label, key)
            if key in old:
                _diff(old[key], value, sub, sub_label, rows)
            else:
                rows.add("add", sub, sub_label, None, value)
        return
    if isinstance(old, list) and isinstance(new, list):
        if len(old) == len(new):
            # Consecutive versions share most items: compare only the ones
            # that differ by identity, when none of them changed its id.
            changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a is not b]
            if all(_same_id(old[i], new[i]) for i in changed):
                for i in changed:
                    _diff(
                        old[i], new[i], pointer_join(path, i), _item_label(label, i, new[i]), rows
                    )
                return
        old_ids, new_ids = _ids(old), _ids(new)
        if old_ids is not None and new_ids is not None:
            _diff_by_id(old, new, old_ids, new_ids, path, label, rows)
        else:
            _diff_by_index(old, new, path, label, rows)
        return
    if not json_equal(old, new):
        rows.add("replace", path, label or "/", old, new)


def _same_id(a: Any, b: Any) -> bool:
    """Whether two items at one index are the same item: equal ids, or no ids at all."""
    a_id = a.get("id") if isinstance(a, dict) else None
    b_id = b.get("id") if isinstance(b, dict) else None
    return a_id == b_id


def _item_label(label: str, index: int, item: Any) -> str:
    key = item.get("id") if isinstance(item, dict) else None
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return f"{label}[id={key}]"
    return pointer_join(label, index)


def _ids(items: list[Any]) -> list[Any] | None:
    """Return the items' ``id`` values when every item is an object with a unique one."""
    if not items:
        return []
    ids: list[Any] = []
    seen: set[Any] = set()
    for item in items:
        if not isinstance(item, dict):
            return None
        key = item.get("id")
        if not isinstance(key, (str, int)) or isinstance(key, bool) or key in seen:
            return None
        seen.add(key)
        ids.append(key)
    return ids


def _diff_by_id(
    old: list[Any],
    new: list[Any],
    old_ids: list[Any],
    new_ids: list[Any],
    path: str,
    label: str,
    rows: _Rows,
) -> None:
    if not old_ids and not new_ids:
        return
    if not old_ids or not new_ids:
        # One side empty: nothing to match; list the items by index.
        _diff_by_index(old, new, path, label, rows)
        return
    new_index = {key: i for i, key in enumerate(new_ids)}
    old_index = {key: i for i, key in enumerate(old_ids)}
    for i, key in enumerate(old_ids):
        if key not in new_index:
            rows.add("remove", pointer_join(path, i), f"{label}[id={key}]", old[i], None)
    for i, key in enumerate(new_ids):
        sub_label = f"{label}[id={key}]"
        if key in old_index:
            _diff(old[old_index[key]], new[i], pointer_join(path, i), sub_label, rows)
        else:
            rows.add("add", pointer_join(path, i), sub_label, None, new[i])


def _diff_by_index(old: list[Any], new: list[Any], path: str, label: str, rows: _Rows) -> None:
    common = min(len(old), len(new))
    for i in range(common):
        _diff(old[i], new[i], pointer_join(path, i), pointer_join(label, i), rows)
    for i in range(common, len(old)):
        rows.add("remove", pointer_join(path, i), pointer_join(label, i), old[i], None)
    for i in range(common, len(new)):
        rows.add("add", pointer_join(path, i), pointer_join(label, i), None, new[i])
