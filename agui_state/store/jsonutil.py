"""Small JSON helpers of the store layer: copies, sizes, pointer lookups.

Internal module. The store treats every JSON value it shares as immutable
and shares it freely between the current state, checkpoints, deltas and
snapshots (structural sharing); only a container of the current state that
nothing else references is written in place (see
:mod:`agui_state.patch.apply`). Values only cross the store's boundary as
copies: inputs are copied once after validation, outputs are copied on the
way out (:func:`copy_json`, :func:`export_version`, :func:`export_snapshot`).
The one exception is the checkpoint of the version a write returns
(:func:`export_written`): it *is* the new state, which nothing mutates while
it is referenced (the caller's reference keeps later writes from writing it
in place), and copying it would make every ``checkpoint_interval``-th write O(state).
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any

from agui_state.models import State, StateSnapshot, StateVersion, make_version

__all__ = [
    "copy_delta",
    "copy_json",
    "export_snapshot",
    "export_version",
    "export_written",
    "json_size",
    "key_size",
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
    # Scalars are most of what a write touches: size them without the
    # encoder's Python-level dispatch (same text: the encoder uses these too).
    kind = type(value)
    if kind is str:
        return utf8_len(encode_basestring(value))
    if kind is int:
        return len(int.__repr__(value))
    if kind is bool:
        return 4 if value else 5
    if value is None:
        return 4
    if kind is float:
        return len(float.__repr__(value))
    return utf8_len(_ENCODER.encode(value))


def key_size(key: str) -> int:
    """Return the byte length of ``key`` written as a JSON string."""
    return utf8_len(encode_basestring(key))


def export_version(version: StateVersion) -> StateVersion:
    """Return a copy of ``version`` whose delta, metadata and checkpoint are private."""
    checkpoint = version.checkpoint
    return _with_private_parts(version, None if checkpoint is None else copy_json(checkpoint))


def export_written(version: StateVersion) -> StateVersion:
    """Return the version a write hands back: private delta and metadata, shared checkpoint.

    The checkpoint (every ``checkpoint_interval``-th version) is the store's
    new state itself; the store never mutates it while the caller holds it
    (reference counts make later writes copy it), and callers must not
    either (the documented read-only contract of a write's return value).
    """
    return _with_private_parts(version, version.checkpoint)


def _with_private_parts(version: StateVersion, checkpoint: State | None) -> StateVersion:
    """Copy ``version`` with a private delta and metadata and the given checkpoint."""
    return make_version(
        version.id,
        version.state_id,
        version.number,
        version.parent_id,
        version.timestamp,
        copy_delta(version.delta),
        copy_json(version.metadata) if version.metadata else {},
        checkpoint,
    )


def copy_delta(delta: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return a private copy of a delta (cheaper than :func:`copy_json` for scalar values)."""
    out = []
    for op in delta:
        mine = op.copy()
        value = mine.get("value")
        if isinstance(value, (dict, list)):
            mine["value"] = copy_json(value)
        out.append(mine)
    return out


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
