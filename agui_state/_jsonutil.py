"""Small JSON helpers of the store layer: copies, sizes, pointer lookups.

Internal module. The store treats every JSON value it holds as immutable and
shares it freely between the current state, checkpoints, deltas and
snapshots (structural sharing). Values only cross the store's boundary as
copies: inputs are copied once after validation, outputs are copied on the
way out (:func:`copy_json`, :func:`export_version`, :func:`export_snapshot`).
"""

from __future__ import annotations

import json
from typing import Any

from agui_state.models import StateSnapshot, StateVersion

__all__ = [
    "copy_json",
    "escape_token",
    "export_snapshot",
    "export_version",
    "json_size",
    "key_size",
    "list_index",
    "lookup",
    "utf8_len",
]

# Compact separators: sizes are those of the most compact JSON text, which is
# what every backend stores (give or take whitespace) and what a limit on
# "state bytes" should mean. ensure_ascii=False so non-ASCII text counts its
# UTF-8 bytes rather than six-byte \uXXXX escapes.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def copy_json(value: Any) -> Any:
    """Return a deep copy of a JSON value (dicts and lists copied, scalars shared).

    Much faster than :func:`copy.deepcopy` because it knows the value is JSON.
    Recursion is bounded by the store's ``max_depth`` limit, which is checked
    before anything is copied.
    """
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def utf8_len(text: str) -> int:
    """Return the UTF-8 byte length of ``text`` (lone surrogates count 3 bytes)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def json_size(value: Any) -> int:
    """Return the UTF-8 byte length of the compact JSON text of ``value``."""
    return utf8_len(_ENCODER.encode(value))


def key_size(key: str) -> int:
    """Return the byte length of ``key`` written as a JSON string."""
    return utf8_len(_ENCODER.encode(key))


def escape_token(token: str) -> str:
    """Escape one JSON Pointer reference token (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def list_index(ref: str) -> int | None:
    """Return the array index an RFC 6901 token denotes, or None.

    Only ``0`` or digits without a leading zero are indices; ``-`` (the end
    of an array) is not an existing element and gives None.
    """
    if ref == "0":
        return 0
    if ref and ref[0] != "0" and ref.isascii() and ref.isdigit():
        return int(ref)
    return None


def lookup(doc: Any, tokens: list[str]) -> tuple[bool, Any]:
    """Resolve pointer ``tokens`` in ``doc``.

    Returns:
        ``(True, value)`` (not copied) when the path exists, else ``(False, None)``.
    """
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                return False, None
            node = node[token]
        elif isinstance(node, list):
            index = list_index(token)
            if index is None or index >= len(node):
                return False, None
            node = node[index]
        else:
            return False, None
    return True, node


def export_version(version: StateVersion) -> StateVersion:
    """Return a copy of ``version`` whose delta, metadata and checkpoint are private."""
    checkpoint = version.checkpoint
    return StateVersion(
        version.id,
        version.state_id,
        version.number,
        version.parent_id,
        version.timestamp,
        copy_json(version.delta),
        copy_json(version.metadata),
        None if checkpoint is None else copy_json(checkpoint),
    )


def export_snapshot(snapshot: StateSnapshot) -> StateSnapshot:
    """Return a copy of ``snapshot`` whose state and metadata are private."""
    return StateSnapshot(
        snapshot.id,
        snapshot.state_id,
        snapshot.version,
        snapshot.timestamp,
        copy_json(snapshot.state),
        snapshot.label,
        copy_json(snapshot.metadata),
    )
