"""Encoding of values for the SQL backend, and decoding of its rows.

JSON documents (deltas, states, checkpoints, metadata) are serialized here,
once, into :class:`RawJSON` text before any statement runs, so a value that
is not JSON becomes a :class:`~agui_state.errors.ValidationError` naming the
field, and nothing reaches the database. The engine's ``json_serializer``
(:func:`engine_json_serializer`) passes that text through unchanged.

Why exact JSON text and not PostgreSQL ``jsonb``: ``jsonb`` is a parsed
form. It reorders object keys, stores numbers as ``numeric`` (the float
``1e16`` comes back as ``10000000000000000``, which Python reads as an int)
and rejects the string escape ``\\u0000``. The contract needs lossless round
trips of the dict shape, so documents live in PostgreSQL ``json`` (validated
on input, kept verbatim) and SQLite text. See ``schema`` for the columns.

Version rows, sent as driver SQL (see ``writes``), carry the plain text
of :func:`encode_text`; both drivers bind a ``str`` to a JSON column as its
text (psycopg with an unknown type that PostgreSQL resolves to ``json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agui_state.errors import CorruptDataError, ValidationError
from agui_state.models import StateSnapshot, StateVersion

__all__ = [
    "RawJSON",
    "check_text",
    "decode_snapshot",
    "decode_version",
    "encode_json",
    "encode_text",
    "engine_json_serializer",
]


class RawJSON(str):
    """JSON text serialized by :func:`encode_json`; stored exactly as is."""

    __slots__ = ()


# Built once: json.dumps with non-default options builds an encoder per call.
_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_COMPACT_ASCII = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def encode_text(value: Any, field: str) -> str:
    """Serialize ``value`` to compact JSON text.

    Non-ASCII text is kept as UTF-8 (compact); only when the value holds a
    lone surrogate, which UTF-8 cannot carry, is it escaped as ``\\uXXXX``.
    NUL in strings is always escaped (``\\u0000``) by the JSON encoder, so it
    round-trips on both dialects.

    Raises:
        ValidationError: ``value`` is not JSON (a set, NaN, a non-str key...).
    """
    if type(value) is dict and not value:  # empty metadata, the common case
        return "{}"
    try:
        text: str = _COMPACT.encode(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"not JSON-serializable: {exc}") from exc
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _COMPACT_ASCII.encode(value)
    return text


def encode_json(value: Any, field: str) -> RawJSON:
    """:func:`encode_text` as :class:`RawJSON`, for SQLAlchemy Core statements.

    Raises:
        ValidationError: ``value`` is not JSON (a set, NaN, a non-str key...).
    """
    return RawJSON(encode_text(value, field))


def engine_json_serializer(value: Any) -> str:
    """The engine's JSON serializer: pass :class:`RawJSON` through, encode the rest."""
    if isinstance(value, RawJSON):
        return str(value)
    return str(encode_json(value, "value"))


def check_text(field: str, value: str | None) -> str | None:
    """Check a plain text column value (state, version and snapshot ids).

    PostgreSQL ``text`` cannot hold NUL and neither dialect's driver can
    send a lone surrogate; reject both on every dialect so behaviour does not
    depend on the database underneath.

    Raises:
        ValidationError: Naming ``field``.
    """
    if value is None:
        return None
    if "\x00" in value:
        raise ValidationError(field, f"contains NUL: {value[:40]!r}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(
                field, f"not encodable as UTF-8 (lone surrogate): {value[:40]!r}"
            ) from exc
    return value


def _as_utc(ts: Any, location: str) -> datetime:
    if not isinstance(ts, datetime):
        raise CorruptDataError(
            location, f"timestamp is {type(ts).__name__}, not a datetime", backend="sql"
        )
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _expect(value: Any, kind: type, location: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise CorruptDataError(
            location, f"{what} is {type(value).__name__}, not {kind.__name__}", backend="sql"
        )
    return value


def decode_version(row: Mapping[Any, Any], state_id: str) -> StateVersion:
    """Build a :class:`StateVersion` from a ``versions`` row.

    Raises:
        CorruptDataError: A column holds the wrong kind of value.
    """
    where = f"version {row['number']} of state {state_id!r}"
    checkpoint = row["checkpoint"]
    if checkpoint is not None:
        _expect(checkpoint, dict, where, "checkpoint")
    return StateVersion(
        id=row["id"],
        state_id=state_id,
        number=row["number"],
        parent_id=row["parent_id"],
        timestamp=_as_utc(row["ts"], where),
        delta=_expect(row["delta"], list, where, "delta"),
        metadata=_expect(row["metadata"], dict, where, "metadata"),
        checkpoint=checkpoint,
    )


def decode_snapshot(row: Mapping[Any, Any], state_id: str) -> StateSnapshot:
    """Build a :class:`StateSnapshot` from a ``snapshots`` row.

    Raises:
        CorruptDataError: A column holds the wrong kind of value.
    """
    where = f"snapshot {row['id']!r} of state {state_id!r}"
    return StateSnapshot(
        id=row["id"],
        state_id=state_id,
        version=row["version"],
        timestamp=_as_utc(row["ts"], where),
        state=_expect(row["state"], dict, where, "state"),
        label=_expect(row["label"], str, where, "label") if row["label"] is not None else None,
        metadata=_expect(row["metadata"], dict, where, "metadata"),
    )
