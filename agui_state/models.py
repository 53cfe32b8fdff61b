"""Data shapes: :class:`StateVersion` and :class:`StateSnapshot`.

Both convert losslessly to and from plain dicts; that dict shape is what every
backend stores, so a version written by one backend reads back identically
from any other (and from an export dump).

Stored shape (``FORMAT`` = 1)::

    version  = {"format": 1, "kind": "version", "id": str, "state_id": str,
                "number": int >= 1, "parent_id": str | None,
                "timestamp": ISO-8601 UTC str (microseconds),
                "delta": [RFC 6902 operations taking version number-1 to number],
                "metadata": {str: JSON},
                "checkpoint": {full state after this version}   # only when present
               }
    snapshot = {"format": 1, "kind": "snapshot", "id": str, "state_id": str,
                "version": int >= 0, "timestamp": ISO-8601 UTC str,
                "state": {full state at that version}, "label": str | None,
                "metadata": {str: JSON}}

A state is always a JSON object at its root; version 0 is the empty object
``{}`` every state starts from.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agui_state import cards
from agui_state.errors import CorruptDataError, StateError, ValidationError
from agui_state.patch import apply_patch
from agui_state.patch.ops import Operation

__all__ = [
    "FORMAT",
    "JSONValue",
    "Operation",
    "State",
    "StateSnapshot",
    "StateVersion",
    "new_id",
    "replay",
    "utcnow",
]

FORMAT = 1
"""Version of the stored dict shape; bumped on any incompatible change."""

JSONValue = Any
"""A JSON value: dict (str keys), list, str, int, float, bool or None."""

State = dict[str, Any]
"""A whole state document: a JSON object."""


def new_id() -> str:
    """Return a new random id (a UUID4 in canonical text form)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_ts(value: Any, kind: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationError(f"{kind}.timestamp", f"expected an ISO-8601 string, got {value!r}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"{kind}.timestamp", f"not ISO-8601: {value!r}") from exc
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts


def _require(data: Any, key: str, kind: str, types: type | tuple[type, ...]) -> Any:
    if not isinstance(data, dict):
        raise ValidationError(kind, f"expected a dict, got {type(data).__name__}")
    if key not in data:
        raise ValidationError(f"{kind}.{key}", "missing")
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise ValidationError(f"{kind}.{key}", f"wrong type {type(value).__name__}")
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _check_format(data: Any, kind: str) -> None:
    if not isinstance(data, dict):
        raise ValidationError(kind, f"expected a dict, got {type(data).__name__}")
    fmt = data.get("format", FORMAT)
    if fmt != FORMAT:
        raise ValidationError(
            f"{kind}.format", f"unsupported format {fmt!r} (this build reads {FORMAT})"
        )
    if data.get("kind", kind) != kind:
        raise ValidationError(f"{kind}.kind", f"expected {kind!r}, got {data.get('kind')!r}")


@dataclass(frozen=True, slots=True)
class StateVersion:
    """One committed change of a state.

    Attributes:
        id: Unique id of this version.
        state_id: The state (AG-UI thread) it belongs to.
        number: 1-based, gap-free position in the state's history.
        parent_id: Id of version ``number - 1`` (``None`` for version 1 or
            when that version has been pruned and its id is unknown).
        timestamp: When it was committed (aware UTC).
        delta: RFC 6902 operations that take version ``number - 1`` to this one.
        metadata: Free-form JSON metadata (run id, author, event info...).
        checkpoint: The full state after this version, when this version
            carries a checkpoint (every K versions), else ``None``.
    """

    id: str
    state_id: str
    number: int
    parent_id: str | None
    timestamp: datetime
    delta: list[Operation]
    metadata: dict[str, Any] = field(default_factory=dict)
    checkpoint: State | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the stored dict shape (see module docstring)."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "kind": "version",
            "id": self.id,
            "state_id": self.state_id,
            "number": self.number,
            "parent_id": self.parent_id,
            "timestamp": _format_ts(self.timestamp),
            "delta": self.delta,
            "metadata": self.metadata,
        }
        if self.checkpoint is not None:
            out["checkpoint"] = self.checkpoint
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StateVersion:
        """Build a version from its stored dict shape.

        Raises:
            ValidationError: A field is missing or has the wrong type.
        """
        kind = "version"
        _check_format(data, kind)
        number = _require(data, "number", kind, int)
        if number < 1:
            raise ValidationError("version.number", f"must be >= 1, got {number}")
        parent = data.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            raise ValidationError("version.parent_id", f"wrong type {type(parent).__name__}")
        checkpoint = data.get("checkpoint")
        if checkpoint is not None and not isinstance(checkpoint, dict):
            raise ValidationError("version.checkpoint", "must be a JSON object")
        return cls(
            id=_require(data, "id", kind, str),
            state_id=_require(data, "state_id", kind, str),
            number=number,
            parent_id=parent,
            timestamp=_parse_ts(data.get("timestamp"), kind),
            delta=_require(data, "delta", kind, list),
            metadata=dict(data.get("metadata") or {}),
            checkpoint=checkpoint,
        )

    def without_checkpoint(self) -> StateVersion:
        """Return a copy of this version without its checkpoint."""
        return StateVersion(
            self.id,
            self.state_id,
            self.number,
            self.parent_id,
            self.timestamp,
            self.delta,
            self.metadata,
            None,
        )

    def with_checkpoint(self, state: State) -> StateVersion:
        """Return a copy of this version carrying ``state`` as its checkpoint."""
        return StateVersion(
            self.id,
            self.state_id,
            self.number,
            self.parent_id,
            self.timestamp,
            self.delta,
            self.metadata,
            state,
        )

    # ------------------------------------------------------------ notebook display
    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """One stable line in notebooks (the dataclass repr carries whole documents)."""
        p.text(
            cards.version_text(
                self.state_id, self.number, self.timestamp, self.delta, self.metadata
            )
        )

    def _repr_html_(self) -> str:
        """A card: number, run, time, op summary; delta, metadata, checkpoint collapsed."""
        return cards.version_card(
            self.state_id,
            self.number,
            self.id,
            self.parent_id,
            self.timestamp,
            self.delta,
            self.metadata,
            self.checkpoint,
        )


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """A labelled full copy of a state at one version.

    Attributes:
        id: Unique id of this snapshot.
        state_id: The state it was taken of.
        version: The version number the snapshot shows (0 = the empty start).
        timestamp: When it was taken (aware UTC).
        state: The full state at that version.
        label: Optional human label.
        metadata: Free-form JSON metadata.
    """

    id: str
    state_id: str
    version: int
    timestamp: datetime
    state: State
    label: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the stored dict shape (see module docstring)."""
        return {
            "format": FORMAT,
            "kind": "snapshot",
            "id": self.id,
            "state_id": self.state_id,
            "version": self.version,
            "timestamp": _format_ts(self.timestamp),
            "state": self.state,
            "label": self.label,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StateSnapshot:
        """Build a snapshot from its stored dict shape.

        Raises:
            ValidationError: A field is missing or has the wrong type.
        """
        kind = "snapshot"
        _check_format(data, kind)
        version = _require(data, "version", kind, int)
        if version < 0:
            raise ValidationError("snapshot.version", f"must be >= 0, got {version}")
        label = data.get("label")
        if label is not None and not isinstance(label, str):
            raise ValidationError("snapshot.label", f"wrong type {type(label).__name__}")
        return cls(
            id=_require(data, "id", kind, str),
            state_id=_require(data, "state_id", kind, str),
            version=version,
            timestamp=_parse_ts(data.get("timestamp"), kind),
            state=_require(data, "state", kind, dict),
            label=label,
            metadata=dict(data.get("metadata") or {}),
        )

    # ------------------------------------------------------------ notebook display
    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """One stable line in notebooks (the dataclass repr carries the whole state)."""
        p.text(
            cards.snapshot_text(self.state_id, self.id, self.version, self.timestamp, self.label)
        )

    def _repr_html_(self) -> str:
        """A card: label, version, time; the state and metadata collapsed."""
        return cards.snapshot_card(
            self.state_id,
            self.id,
            self.version,
            self.timestamp,
            self.state,
            self.label,
            self.metadata,
        )


def replay(state: State, versions: Iterable[StateVersion], state_id: str) -> State:
    """Apply the deltas of ``versions`` (ascending, consecutive) to ``state``.

    The one replay of the package: the store's history, every backend's reads,
    import checks and the AG-UI replay go through it. ``state`` is not mutated
    (the patch engine shares structure instead).

    Raises:
        CorruptDataError: A delta does not apply: recorded data is damaged
            (every delta was validated when it was written). Names the state
            and the version.
    """
    for version in versions:
        try:
            patched: State = apply_patch(state, version.delta)
        except StateError as exc:
            raise CorruptDataError(
                f"state {state_id!r} version {version.number}", f"delta does not apply: {exc}"
            ) from exc
        state = patched
    return state
