"""JSON Pointer (RFC 6901) and JSON Patch (RFC 6902): pure functions.

Layer 1 of agui-state: imports nothing but :mod:`agui_state.errors`.

* :func:`parse_pointer`, :func:`format_pointer`, :func:`resolve` — pointers
  with strict escapes (``~0``, ``~1``) and strict array indices.
* :func:`validate_patch`, :func:`apply_patch`, :func:`touched_paths` —
  patches. Applying is atomic, never mutates its input and shares every
  untouched subtree with it (O(path depth + touched values) per operation,
  not O(document)).
* :func:`diff` — a patch between two documents.
* :func:`json_equal`, :func:`check_json` — JSON equality (``1 == 1.0``,
  ``True != 1``) and strict validation of values.

Documents are values: since versions share structure, never mutate a
document obtained from (or given to) these functions; patch it instead.

Modules: :mod:`.pointer`, :mod:`.ops` (patch shape), :mod:`.apply`,
:mod:`.diffing`, :mod:`.values`.
"""

from __future__ import annotations

from agui_state.patch.apply import apply_patch
from agui_state.patch.diffing import diff
from agui_state.patch.ops import touched_paths, validate_patch
from agui_state.patch.pointer import format_pointer, parse_pointer, resolve
from agui_state.patch.values import check_json, json_equal

__all__ = [
    "apply_patch",
    "check_json",
    "diff",
    "format_pointer",
    "json_equal",
    "parse_pointer",
    "resolve",
    "touched_paths",
    "validate_patch",
]
