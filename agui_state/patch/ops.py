"""The shape of a JSON Patch (RFC 6902): validation and parsed operations.

A patch is a sequence of operation objects. Each has an ``op`` (one of
:data:`OPS`) and a ``path``; ``add``, ``replace`` and ``test`` also need a
``value``, ``move`` and ``copy`` a ``from``. Other members are ignored, as
RFC 6902 section 4 requires. Every problem is a
:class:`~agui_state.errors.PatchError` naming the operation's index, ``op``
and ``path``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from agui_state.errors import InvalidPathError, PatchError, short_repr
from agui_state.patch.pointer import parse_pointer
from agui_state.patch.values import clone_json, find_non_json

__all__ = ["OPS", "Operation", "ParsedOp", "parse_patch", "touched_paths", "validate_patch"]

Operation = dict[str, Any]
"""One RFC 6902 operation as JSON, e.g. ``{"op": "add", "path": "/a", "value": 1}``.

The one operation type of the package (:data:`agui_state.models.Operation`
is this); :class:`ParsedOp` is the engine's internal, parsed form of one."""

OPS = ("add", "remove", "replace", "move", "copy", "test")
"""The six RFC 6902 operations."""

_NEEDS_VALUE = frozenset({"add", "replace", "test"})
_NEEDS_FROM = frozenset({"move", "copy"})


class ParsedOp(NamedTuple):
    """One validated :data:`Operation` with its pointers already parsed (engine-internal).

    A tuple rather than a frozen dataclass because building one is several
    times cheaper, and every write builds one per operation (the store builds
    them directly from operations it has checked in one pass).

    Attributes:
        position: Position in the patch (``index`` would shadow ``tuple.index``).
        op: The operation name.
        path: The ``path`` member as given.
        tokens: ``path`` parsed into unescaped tokens.
        from_path: The ``from`` member (``move``/``copy``), else ``None``.
        from_tokens: ``from`` parsed, else ``None``.
        value: The ``value`` member (``add``/``replace``/``test``), else ``None``.
    """

    position: int
    op: str
    path: str
    tokens: list[str]
    from_path: str | None
    from_tokens: list[str] | None
    value: Any


def _as_sequence(patch: Any) -> Sequence[Any]:
    # str/bytes are Sequences too, but a string is never a patch: say so
    # instead of complaining about its first character.
    if isinstance(patch, (str, bytes, bytearray)) or not isinstance(patch, Sequence):
        raise PatchError(f"a patch must be a list of operations, got {type(patch).__name__}")
    return patch


def _parse_op(index: int, raw: Any, *, values: bool, copy_values: bool) -> ParsedOp:
    """Validate one raw operation and parse its pointers.

    Args:
        index: The operation's position, for errors.
        raw: The operation as given.
        values: Whether to check that ``value`` is JSON.
        copy_values: Whether to deep-copy ``value`` for ``add``/``replace``
            (so the caller's later mutations cannot reach the document).
    """
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise PatchError(f"an operation must be an object, got {type(raw).__name__}", index=index)
    path = raw.get("path")
    shown_path = path if isinstance(path, str) else None
    if "op" not in raw:
        raise PatchError("missing member 'op'", index=index, path=shown_path)
    op = raw["op"]
    if not isinstance(op, str):
        raise PatchError(
            f"member 'op' must be a string, got {type(op).__name__} {short_repr(op)}",
            index=index,
            path=shown_path,
        )
    if op not in OPS:
        raise PatchError(
            f"unknown op {op!r} (expected one of {', '.join(OPS)})",
            index=index,
            op=op,
            path=shown_path,
        )
    if "path" not in raw:
        raise PatchError("missing member 'path'", index=index, op=op)
    if shown_path is None:
        raise PatchError(
            f"member 'path' must be a string, got {type(path).__name__} {short_repr(path)}",
            index=index,
            op=op,
        )
    try:
        tokens = parse_pointer(shown_path)
    except InvalidPathError as exc:
        raise PatchError(
            f"invalid path: {exc.reason}", index=index, op=op, path=shown_path
        ) from None

    from_path: str | None = None
    from_tokens: list[str] | None = None
    if op in _NEEDS_FROM:
        if "from" not in raw:
            raise PatchError("missing member 'from'", index=index, op=op, path=shown_path)
        from_raw = raw["from"]
        if not isinstance(from_raw, str):
            raise PatchError(
                f"member 'from' must be a string, got {type(from_raw).__name__} "
                f"{short_repr(from_raw)}",
                index=index,
                op=op,
                path=shown_path,
            )
        try:
            from_tokens = parse_pointer(from_raw)
        except InvalidPathError as exc:
            raise PatchError(
                f"invalid from {from_raw!r}: {exc.reason}", index=index, op=op, path=shown_path
            ) from None
        from_path = from_raw

    value: Any = None
    if op in _NEEDS_VALUE:
        if "value" not in raw:
            raise PatchError("missing member 'value'", index=index, op=op, path=shown_path)
        value = raw["value"]
        if values:
            problem = find_non_json(value)
            if problem is not None:
                inner, reason = problem
                where = f" at {inner!r} inside the value" if inner else ""
                raise PatchError(
                    f"value is not JSON{where}: {reason}", index=index, op=op, path=shown_path
                )
        if copy_values and op != "test":
            value = clone_json(value)
    return ParsedOp(index, op, shown_path, tokens, from_path, from_tokens, value)


def parse_patch(patch: Any, *, copy_values: bool) -> list[ParsedOp]:
    """Validate a whole patch and parse every operation.

    Args:
        patch: A sequence of operation mappings.
        copy_values: Whether to deep-copy ``add``/``replace`` values.

    Returns:
        The parsed operations, in order.

    Raises:
        PatchError: The patch or one of its operations is malformed.
    """
    return [
        _parse_op(index, raw, values=True, copy_values=copy_values)
        for index, raw in enumerate(_as_sequence(patch))
    ]


def validate_patch(patch: Any) -> list[dict[str, Any]]:
    """Check that ``patch`` is a well-formed JSON Patch.

    Checks the shape only (it does not look at any document): a sequence (not
    a string) of mappings, each with a known ``op``, a well-formed ``path``,
    a ``value`` that is pure JSON where one is needed and a well-formed
    ``from`` where one is needed. Unknown extra members are allowed and kept.

    Args:
        patch: Any sequence of operation mappings.

    Returns:
        The operations as a new list of plain dicts (shallow copies: the
        values are not copied).

    Raises:
        PatchError: The patch is not a sequence (``index`` is ``None``), or
            an operation is malformed (``index``, ``op`` and ``path`` name it).
    """
    parse_patch(patch, copy_values=False)
    return [dict(raw) for raw in patch]


def touched_paths(patch: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the pointers a patch changes, in operation order.

    ``move`` changes both its ``from`` and its ``path`` (``from`` first);
    ``add``, ``remove``, ``replace`` and ``copy`` change their ``path``;
    ``test`` changes nothing. Values are not inspected.

    Args:
        patch: A sequence of operation mappings.

    Returns:
        The pointers, as given in the patch (duplicates kept).

    Raises:
        PatchError: The patch or an operation is malformed.
    """
    out: list[str] = []
    for index, raw in enumerate(_as_sequence(patch)):
        parsed = _parse_op(index, raw, values=False, copy_values=False)
        if parsed.op == "test":
            continue
        if parsed.op == "move" and parsed.from_path is not None:
            out.append(parsed.from_path)
        out.append(parsed.path)
    return out
