"""Computing a JSON Patch between two documents.

The goal is a correct, reasonably small patch, not a minimal one:

* objects: ``remove`` the members only in ``a``, ``add`` those only in ``b``,
  recurse into the members in both;
* arrays: trim the common prefix and suffix, then, for a short middle,
  align it with a longest common subsequence; unmatched
  elements facing each other are diffed recursively, the rest removed or
  added. Long middles skip the (quadratic) LCS and are diffed position by
  position;
* anything else: ``replace`` when the values differ as JSON
  (:func:`~agui_state.patch.values.json_equal`: ``1`` equals ``1.0``, ``True``
  does not equal ``1``).

Identical objects (``a is b``) are skipped without being walked, so diffing
two versions that share structure costs little more than their difference.
"""

from __future__ import annotations

from typing import Any

from agui_state.patch.pointer import escape_token
from agui_state.patch.values import clone_json, json_equal

__all__ = ["diff"]

# Above this many element pairs (len(a_mid) * len(b_mid)) the LCS table and
# its json_equal calls cost more than a slightly larger patch is worth.
_LCS_LIMIT = 4096


def diff(a: Any, b: Any) -> list[dict[str, Any]]:
    """Return a JSON Patch that turns ``a`` into ``b``.

    ``apply_patch(a, diff(a, b))`` is JSON-equal to ``b``. Values in the patch
    are deep copies, so the patch does not share containers with ``b``.

    Args:
        a: The old JSON document.
        b: The new JSON document.

    Returns:
        The operations (``add``, ``remove``, ``replace``); ``[]`` when the
        documents are JSON-equal.
    """
    ops: list[dict[str, Any]] = []
    _diff(a, b, "", ops)
    return ops


def _diff(a: Any, b: Any, path: str, ops: list[dict[str, Any]]) -> None:
    if a is b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                ops.append({"op": "remove", "path": f"{path}/{escape_token(key)}"})
        for key, new in b.items():
            member = f"{path}/{escape_token(key)}"
            if key in a:
                _diff(a[key], new, member, ops)
            else:
                ops.append({"op": "add", "path": member, "value": clone_json(new)})
        return
    if isinstance(a, list) and isinstance(b, list):
        _diff_lists(a, b, path, ops)
        return
    if not json_equal(a, b):
        ops.append({"op": "replace", "path": path, "value": clone_json(b)})


def _diff_lists(a: list[Any], b: list[Any], path: str, ops: list[dict[str, Any]]) -> None:
    start = 0
    shortest = min(len(a), len(b))
    while start < shortest and json_equal(a[start], b[start]):
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and json_equal(a[end_a - 1], b[end_b - 1]):
        end_a -= 1
        end_b -= 1
    mid_a, mid_b = a[start:end_a], b[start:end_b]
    m, n = len(mid_a), len(mid_b)
    if m == 0 and n == 0:
        return
    # Unmatched elements facing each other are diffed recursively by
    # _diff_run, so elements edited in place still give small nested patches.
    matches = _lcs(mid_a, mid_b) if m and n and m * n <= _LCS_LIMIT else []
    # ``pos`` is where the next element sits in the array as already patched.
    pos = start
    i = j = 0
    for match_i, match_j in [*matches, (m, n)]:
        pos = _diff_run(mid_a[i:match_i], mid_b[j:match_j], pos, path, ops)
        pos += 1  # skip the matched (kept) element; harmless after the sentinel
        i, j = match_i + 1, match_j + 1


def _diff_run(
    old: list[Any], new: list[Any], pos: int, path: str, ops: list[dict[str, Any]]
) -> int:
    """Turn the run ``old`` (starting at ``pos``) into ``new``; return the next position."""
    common = min(len(old), len(new))
    for k in range(common):
        _diff(old[k], new[k], f"{path}/{pos}", ops)
        pos += 1
    for _ in range(len(old) - common):
        # Each removal shifts the rest of the run down onto ``pos``.
        ops.append({"op": "remove", "path": f"{path}/{pos}"})
    for k in range(common, len(new)):
        ops.append({"op": "add", "path": f"{path}/{pos}", "value": clone_json(new[k])})
        pos += 1
    return pos


def _lcs(a: list[Any], b: list[Any]) -> list[tuple[int, int]]:
    """Return index pairs of a longest common subsequence of ``a`` and ``b``."""
    m, n = len(a), len(b)
    equal = [[json_equal(x, y) for y in b] for x in a]
    # lengths[i][j]: LCS length of a[i:] and b[j:].
    lengths = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m - 1, -1, -1):
        row, below = lengths[i], lengths[i + 1]
        for j in range(n - 1, -1, -1):
            if equal[i][j]:
                row[j] = below[j + 1] + 1
            else:
                row[j] = max(below[j], row[j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < m and j < n:
        if equal[i][j]:
            pairs.append((i, j))
            i += 1
            j += 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs
