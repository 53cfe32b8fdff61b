"""Key layout of the Redis backend (see :mod:`agui_state.backends.redis`).

Every key of one state carries the same hash tag, ``{<enc>}``, where
``<enc>`` is the unpadded base64url of the UTF-8 state id. Encoding matters:
a raw id may contain ``{``, ``}`` (which would move or break the hash tag)
and glob characters ``* ? [`` (which would leak into ``SCAN MATCH``
patterns). The base64url alphabet (``A-Z a-z 0-9 - _``) has none of them, the
encoding is reversible (``repair_index`` recovers ids from key names alone)
and, unlike a digest, it cannot collide.

Ids are encoded with ``surrogatepass`` so every id that
:func:`~agui_state.backends.base.validate_state_id` accepts (even one with a
lone surrogate) has a byte form, and byte order still equals code-point
order, which ``ZRANGEBYLEX`` paging relies on.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from redis.crc import key_slot

__all__ = ["KeyLayout", "StateKeys", "decode_id", "encode_id", "id_bytes", "lex_range"]

_SUFFIXES = ("meta", "v", "vid", "snap", "tok")
_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")
_STATES_CACHED = 4096  # key sets memoized per layout (cleared when full)


def id_bytes(state_id: str) -> bytes:
    """Return the byte form of a state id (UTF-8, lone surrogates allowed)."""
    return state_id.encode("utf-8", "surrogatepass")


def id_from_bytes(raw: bytes) -> str:
    """Inverse of :func:`id_bytes`."""
    return raw.decode("utf-8", "surrogatepass")


def encode_id(state_id: str) -> str:
    """Return the hash-tag-safe encoding of a state id (unpadded base64url)."""
    return base64.urlsafe_b64encode(id_bytes(state_id)).rstrip(b"=").decode("ascii")


def decode_id(encoded: str | bytes) -> str:
    """Inverse of :func:`encode_id`.

    Raises:
        ValueError: ``encoded`` is not a valid encoding.
    """
    text = encoded.decode("ascii") if isinstance(encoded, bytes) else encoded
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a base64url state id: {text!r}") from exc
    return id_from_bytes(raw)


@dataclass(frozen=True, slots=True)
class StateKeys:
    """The keys of one state, all in one hash slot.

    Attributes:
        state_id: The raw state id.
        meta: Hash ``head``, ``cpv`` (checkpoint version), ``cp`` (checkpoint JSON).
        versions: Sorted set, score = version number, member = version JSON.
        version_ids: Sorted set, score = version number, member = version id.
        snapshots: Hash snapshot id -> snapshot JSON.
        tokens: Sorted set of recent write tokens (retry de-duplication).
    """

    state_id: str
    meta: str
    versions: str
    version_ids: str
    snapshots: str
    tokens: str

    def all(self) -> list[str]:
        """All keys, in the order the Lua scripts expect them."""
        return [self.meta, self.versions, self.version_ids, self.snapshots, self.tokens]


class KeyLayout:
    """Names every key the backend writes under one prefix.

    Layout (``P`` = key prefix, ``E`` = :func:`encode_id` of the state id)::

        P + "index"          sorted set, all scores 0, members = raw state ids
        P + "s:{E}:meta"     hash: head, cpv, cp
        P + "s:{E}:v"        sorted set: number -> version JSON
        P + "s:{E}:vid"      sorted set: number -> version id
        P + "s:{E}:snap"     hash: snapshot id -> snapshot JSON
        P + "s:{E}:tok"      sorted set: recent write tokens (by time)
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.index = f"{prefix}index"
        self._states: dict[str, StateKeys] = {}
        self._meta_re = re.compile(
            re.escape(f"{prefix}s:{{").encode()
            + rb"([A-Za-z0-9_-]+)"
            + re.escape("}:meta").encode()
        )

    def state(self, state_id: str) -> StateKeys:
        """Return the keys of ``state_id``."""
        # Memoized (StateKeys is immutable): every write needs them, and building
        # them (base64 + five strings) is ~2 us of a ~10 us write path.
        keys = self._states.get(state_id)
        if keys is None:
            if len(self._states) >= _STATES_CACHED:
                self._states.clear()
            base = f"{self.prefix}s:{{{encode_id(state_id)}}}:"
            keys = StateKeys(state_id, *(base + suffix for suffix in _SUFFIXES))
            self._states[state_id] = keys
        return keys

    def slot(self, state_id: str) -> int:
        """Return the Redis Cluster hash slot of every key of ``state_id``."""
        return int(key_slot(encode_id(state_id).encode("ascii")))

    def meta_pattern(self) -> bytes:
        """``SCAN MATCH`` pattern of every meta key (prefix glob chars escaped)."""
        escaped = _GLOB_SPECIAL.sub(rb"\\\1", self.prefix.encode())
        return escaped + b"s:{*}:meta"

    def prefix_pattern(self) -> bytes:
        """``SCAN MATCH`` pattern of every key under the prefix."""
        return _GLOB_SPECIAL.sub(rb"\\\1", self.prefix.encode()) + b"*"

    def state_id_of_meta(self, key: bytes) -> str | None:
        """Return the state id of a meta key, or None if ``key`` is not one of ours.

        ``SCAN MATCH`` alone is not enough: ``*`` also matches across another
        prefix that happens to extend ours.
        """
        match = self._meta_re.fullmatch(key)
        if match is None:
            return None
        encoded = match.group(1).decode("ascii")
        try:
            state_id = decode_id(encoded)
        except (ValueError, UnicodeDecodeError):
            return None
        # Non-canonical base64 (stray trailing bits) is not a key we wrote.
        return state_id if encode_id(state_id) == encoded else None


def lex_range(prefix: str | None, after: str | None) -> tuple[bytes, bytes]:
    """Return ``ZRANGEBYLEX`` (min, max) bounds for ``list_states``.

    UTF-8 byte order equals code-point order, so lexicographic order of the
    members is the order ``list_states`` promises. Valid UTF-8 never holds the
    byte ``0xFF``, so ``(prefix + 0xFF`` is above every id starting with
    ``prefix`` and below every greater id that does not.
    """
    low = b"-"
    high = b"+"
    after_b = id_bytes(after) if after is not None else None
    if prefix:
        prefix_b = id_bytes(prefix)
        low = b"(" + after_b if after_b is not None and after_b >= prefix_b else b"[" + prefix_b
        high = b"(" + prefix_b + b"\xff"
    elif after_b is not None:
        low = b"(" + after_b
    return low, high
