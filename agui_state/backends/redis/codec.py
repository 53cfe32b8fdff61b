"""Serialization of the Redis backend: models to the bytes the scripts store, and back.

Values are the models' dict shape as compact JSON, UTF-8 encoded with
``surrogatepass`` so that any Python string (even one holding a lone
surrogate, which JSON text can express) survives the round trip. Anything
unreadable on the way back is a :class:`~agui_state.errors.CorruptDataError`
naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agui_state.backends.base import Checkpoint, Write
from agui_state.backends.redis.keys import id_bytes
from agui_state.errors import CorruptDataError, ValidationError
from agui_state.models import StateSnapshot, StateVersion

__all__ = [
    "decode_checkpoint",
    "decode_snapshot",
    "decode_versions",
    "dumps",
    "loads",
    "parse_head",
    "write_args",
]

BACKEND = "redis"


# One shared encoder: json.dumps with non-default options builds a new one per call.
# Encoding keeps no state, so sharing it between threads is safe.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any, what: str) -> bytes:
    """Serialize ``value``; ``what`` names it in the error.

    Raises:
        ValidationError: Not JSON (NaN, a set, an object...).
    """
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(what, f"not JSON-serializable: {exc}") from exc
    return text.encode("utf-8", "surrogatepass")


def loads(raw: bytes, location: str) -> Any:
    """Parse stored JSON read from the key ``location``."""
    try:
        return json.loads(raw.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptDataError(location, f"not valid JSON: {exc}", backend=BACKEND) from exc


def write_args(write: Write, position: int) -> list[Any]:
    """The six ARGV items of one write in the write script (see ``scripts``)."""
    if write.kind == "version":
        v = write.version
        assert v is not None
        body = dumps((v if v.checkpoint is None else v.without_checkpoint()).to_dict(), "version")
        cp = b""
        if v.checkpoint is not None:
            cp = dumps(v.checkpoint, "version.checkpoint")
            # Splice rather than serialize the checkpoint twice.
            body = body[:-1] + b',"checkpoint":' + cp + b"}"
        # Bytes throughout: redis-py passes bytes through as they are (str and
        # int go through its encoder), which matters in a 500-version group commit.
        return [b"v", b"%d" % position, b"%d" % v.number, id_bytes(v.id), body, cp]
    if write.kind == "state":
        expected = "" if write.expected_version is None else write.expected_version
        return ["s", position, expected, dumps(write.state, "state"), "", ""]
    snap = write.snapshot
    assert snap is not None
    return ["n", position, id_bytes(snap.id), dumps(snap.to_dict(), "snapshot"), "", ""]


def parse_head(raw: bytes | None, location: str) -> int | None:
    """The ``head`` field of a meta hash (None: the state does not exist)."""
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise CorruptDataError(location, f"head {raw!r} is not a number", backend=BACKEND) from exc


def decode_checkpoint(cpv: bytes, cp: bytes | None, location: str) -> Checkpoint:
    """The ``cpv`` and ``cp`` fields of a meta hash."""
    state = loads(cp or b"", location)
    if not isinstance(state, dict) or not cpv.isdigit():
        raise CorruptDataError(
            location, "checkpoint is not a version number and a JSON object", backend=BACKEND
        )
    return Checkpoint(int(cpv), state)


def decode_versions(raws: Sequence[bytes], location: str) -> list[StateVersion]:
    """Stored version JSONs, in the order given."""
    out = []
    for raw in raws:
        try:
            out.append(StateVersion.from_dict(loads(raw, location)))
        except ValidationError as exc:
            raise CorruptDataError(location, f"bad version: {exc}", backend=BACKEND) from exc
    return out


def decode_snapshot(raw: bytes, location: str) -> StateSnapshot:
    """One stored snapshot JSON."""
    try:
        return StateSnapshot.from_dict(loads(raw, location))
    except ValidationError as exc:
        raise CorruptDataError(location, f"bad snapshot: {exc}", backend=BACKEND) from exc
