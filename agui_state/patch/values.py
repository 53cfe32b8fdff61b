"""JSON values: strict validation, JSON equality and deep copies.

A JSON value here is ``None``, ``bool``, ``int``, a finite ``float``, ``str``,
``list`` or ``dict`` with ``str`` keys, nested. Everything else (tuples, sets,
bytes, datetimes, NaN/Infinity, non-string keys...) is rejected by
:func:`check_json`, because it would not survive a round trip through JSON
text and backends would store something different from what was applied.
"""

from __future__ import annotations

import math
from typing import Any

from agui_state.errors import ValidationError
from agui_state.patch.pointer import escape_token

__all__ = ["check_json", "clone_json", "find_non_json", "json_equal"]


def json_equal(a: Any, b: Any) -> bool:
    """Compare two JSON values the way JSON (and RFC 6902 ``test``) does.

    Numbers compare by value whatever their Python type (``1 == 1.0``), but
    booleans are not numbers (``True != 1``, ``False != 0``), at any depth in
    lists and objects. Object member order does not matter; array order does.

    Identical objects compare equal without being walked, which makes
    comparing two versions that share structure cheap.

    Args:
        a: A JSON value.
        b: Another JSON value.

    Returns:
        Whether the two values are equal as JSON.
    """
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        if not isinstance(b, dict) or len(a) != len(b):
            return False
        return all(key in b and json_equal(value, b[key]) for key, value in a.items())
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    if isinstance(b, (dict, list, int, float)):
        # a is a str/None (or not JSON at all); a container or number never equals it.
        return False
    return bool(a == b)


def clone_json(value: Any) -> Any:
    """Return a deep copy of the containers (dicts and lists) in ``value``.

    Scalars are immutable and returned as they are. Faster than
    :func:`copy.deepcopy` because it knows the value is JSON (no memo, no
    ``__deepcopy__`` protocol); dict and list subclasses become plain ones.

    Args:
        value: A JSON value (not validated; see :func:`check_json`).

    Returns:
        A copy that shares no mutable container with ``value``.
    """
    if isinstance(value, dict):
        return {key: clone_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone_json(item) for item in value]
    return value


def check_json(value: Any, path: str = "") -> None:
    """Check that ``value`` is pure JSON, all the way down.

    Args:
        value: The value to check.
        path: The JSON Pointer of ``value`` itself, prefixed to the pointer
            reported on error (e.g. ``"/cart"``).

    Raises:
        ValidationError: Some part is not JSON. ``field`` is the JSON Pointer
            of the offending part (``""`` for the root); ``reason`` says what
            it is (a NaN, a tuple, a non-string key...).
    """
    found = find_non_json(value)
    if found is None:
        return
    pointer, reason = found
    pointer = path + pointer
    if not pointer:
        reason += " (at the document root)"
    raise ValidationError(pointer, reason)


def find_non_json(value: Any) -> tuple[str, str] | None:
    """Locate the first part of ``value`` that is not JSON.

    Args:
        value: The value to check.

    Returns:
        ``None`` when ``value`` is pure JSON, else the JSON Pointer of the
        offending part relative to ``value`` (``""`` for ``value`` itself)
        and the reason.
    """
    found = _find_non_json(value)
    if found is None:
        return None
    reversed_tokens, reason = found
    return "".join("/" + escape_token(t) for t in reversed(reversed_tokens)), reason


_SCALARS = (str, int, type(None))  # bool is an int subclass: accepted through int.


def _find_non_json(value: Any) -> tuple[list[str], str] | None:
    """Return (tokens leading to the first non-JSON part, reversed; reason), or None.

    The happy path allocates nothing: tokens are only collected while an
    error unwinds, so checking a large valid document stays cheap.
    """
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return [], f"non-finite number {value!r} is not JSON"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return [], (
                    f"object key {key!r} ({type(key).__name__}) is not a string; "
                    "JSON object keys must be strings"
                )
            found = _find_non_json(item)
            if found is not None:
                found[0].append(key)
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_non_json(item)
            if found is not None:
                found[0].append(str(index))
                return found
        return None
    kind = type(value).__name__
    if isinstance(value, (tuple, set, frozenset)):
        hint = "; use a list"
    elif isinstance(value, (bytes, bytearray, memoryview)):
        hint = "; encode it as a string (e.g. base64)"
    else:
        hint = ""
    return [], f"{kind} is not a JSON value{hint}"
