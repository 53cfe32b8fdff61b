"""O(delta) size accounting between two versions of a state.

Internal module of the store layer. :func:`size_change` returns exactly
``json_size(new) - json_size(old)`` without serializing either document:
it walks both in parallel and skips every subtree they share (``a is b``).
Since :func:`agui_state.patch.apply_patch` shares all untouched subtrees
with its input, the walk only visits the containers on the paths a patch
touched (which the patch engine copied anyway) and serializes only the
values that were added, removed or replaced.

The same walk checks the nesting depth of every new subtree, which covers
values brought in by ``copy`` and ``move`` (values from ``add``/``replace``
were already checked before the patch was applied).

Containers are compared in three parts: the longest common prefix and
suffix of identical entries (found at C speed), then the short middle.
Array middles are matched by identity (an insertion or removal shifts
positions but keeps the untouched elements' identity); the unmatched
elements of each side are paired in order and compared recursively, so a
change deep inside one element does not serialize the whole element. Any
pairing is exact, because the size of an array is the sum of its elements'
sizes plus brackets and commas. The cost is O(width) at C speed for each
container on a touched path (the engine pays O(width) to copy it anyway)
plus O(changed values).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import compress, count, islice
from operator import is_not
from typing import Any

from agui_state._jsonutil import escape_token, json_size, key_size
from agui_state.limits import StoreLimits, check_depth

__all__ = ["size_change"]


def _commas(n: int) -> int:
    return n - 1 if n > 1 else 0


def size_change(old: Any, new: Any, limits: StoreLimits) -> int:
    """Return ``json_size(new) - json_size(old)`` for two versions of a document.

    Args:
        old: The document before a write (valid).
        new: The document after it, sharing untouched subtrees with ``old``.
        limits: ``max_depth`` is checked on every new subtree.

    Raises:
        LimitExceededError: A new subtree is nested deeper than ``max_depth``.
    """
    return _change(old, new, 0, "", limits)


def _added(value: Any, level: int, ptr: str, limits: StoreLimits) -> int:
    if isinstance(value, (dict, list)):
        check_depth(value, ptr, level, limits)
    return json_size(value)


def _same_prefix(xs: Iterable[Any], ys: Iterable[Any], limit: int) -> int:
    """Count the leading positions where ``xs`` and ``ys`` hold the very same objects.

    Runs at C speed (``map``/``compress``), which matters for wide containers:
    the patch engine copies a touched container in C, and this walk must not
    be much slower than that.
    """
    return next(compress(count(), map(is_not, islice(xs, limit), ys)), limit)


def _mismatches(xs: Iterable[Any], ys: Iterable[Any]) -> list[int]:
    """Positions where ``xs`` and ``ys`` hold different objects (C speed)."""
    return list(compress(count(), map(is_not, xs, ys)))


def _change(a: Any, b: Any, level: int, ptr: str, limits: StoreLimits) -> int:
    """Size change from ``a`` to ``b``, which sit under ``level`` containers at ``ptr``."""
    if a is b:
        return 0
    if isinstance(a, dict) and isinstance(b, dict):
        return _dict_change(a, b, level, ptr, limits)
    if isinstance(a, list) and isinstance(b, list):
        return _list_change(a, b, level, ptr, limits)
    return _added(b, level, ptr, limits) - json_size(a)


def _dict_change(
    a: dict[str, Any], b: dict[str, Any], level: int, ptr: str, limits: StoreLimits
) -> int:
    # Path copying keeps key order and key objects, so the keys of a and b
    # usually line up except in a short middle (an added, removed or re-added
    # key). Aligned keys only need an identity check of their values.
    delta = _commas(len(b)) - _commas(len(a))
    shortest = min(len(a), len(b))
    head = _same_prefix(a, b, shortest)
    tail = _same_prefix(reversed(a), reversed(b), shortest - head)
    changed = _mismatches(islice(a.values(), head), b.values())
    changed_tail = _mismatches(islice(reversed(a.values()), tail), reversed(b.values()))
    if changed or changed_tail:
        keys = list(b)
        for key in [keys[i] for i in changed] + [keys[len(b) - 1 - j] for j in changed_tail]:
            delta += _change(a[key], b[key], level + 1, f"{ptr}/{escape_token(key)}", limits)
    for key in islice(a, head, len(a) - tail):
        if key in b:
            if a[key] is not b[key]:
                where = f"{ptr}/{escape_token(key)}"
                delta += _change(a[key], b[key], level + 1, where, limits)
        else:
            delta -= key_size(key) + 1 + json_size(a[key])
    for key in islice(b, head, len(b) - tail):
        if key not in a:
            where = f"{ptr}/{escape_token(key)}"
            delta += key_size(key) + 1 + _added(b[key], level + 1, where, limits)
    return delta


def _list_change(a: list[Any], b: list[Any], level: int, ptr: str, limits: StoreLimits) -> int:
    delta = _commas(len(b)) - _commas(len(a))
    shortest = min(len(a), len(b))
    head = _same_prefix(a, b, shortest)
    tail = _same_prefix(reversed(a), reversed(b), shortest - head)
    middle_a, middle_b = a[head : len(a) - tail], b[head : len(b) - tail]
    if not middle_a and not middle_b:
        return delta
    # Match the middles by identity (elements shifted by an insertion or
    # removal elsewhere in the middle keep their identity).
    counts: dict[int, int] = {}
    for x in middle_a:
        counts[id(x)] = counts.get(id(x), 0) + 1
    unmatched_b: list[tuple[int, Any]] = []
    for index, y in enumerate(middle_b, head):
        left = counts.get(id(y), 0)
        if left:
            counts[id(y)] = left - 1
        else:
            unmatched_b.append((index, y))
    unmatched_a: list[Any] = []
    for x in middle_a:
        left = counts.get(id(x), 0)
        if left:
            counts[id(x)] = left - 1
            unmatched_a.append(x)
    for i, (index, y) in enumerate(unmatched_b):
        where = f"{ptr}/{index}"
        if i < len(unmatched_a):
            delta += _change(unmatched_a[i], y, level + 1, where, limits)
        else:
            delta += _added(y, level + 1, where, limits)
    for x in unmatched_a[len(unmatched_b) :]:
        delta -= json_size(x)
    return delta
