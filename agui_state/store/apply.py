"""Checked patch application: validation, limits and the running size estimate.

Internal module of the store layer. A write flows down once:

1. :func:`prepare_patch` (no state needed, so callers run it *outside* the
   write lock) validates: the patch's shape and operation count, every value
   against the limits (depth first, so absurdly deep input fails fast instead
   of exhausting the stack), values pure JSON; it returns :class:`Prepared`
   operations holding private copies of their values, both as the delta to
   record and parsed for the engine. A well-formed patch of plain values is
   checked and copied in one pass; anything unusual (an error, a subclass of
   dict or int...) takes the checked path, which runs
   :func:`agui_state.patch.validate_patch` and reports exactly what is wrong.
2. :func:`apply_prepared` (under the write lock) applies them with
   :func:`agui_state.store.sizing.apply_sized`: the engine's own applier
   (atomic; shares untouched subtrees; writes in place only into containers
   of the current state that nothing else references, undoing them if the
   write is abandoned), whose
   ``on_step`` hook updates the size estimate from the values each step
   touches as the engine writes them (no second walk), then checks the limits
   on what changed: the root still an object, the new size within
   ``max_state_bytes`` (values were checked in step 1).
3. The store then records the version and hands it to its ``on_version``
   hook (the persistent store's write) before publishing it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from agui_state.errors import InvalidPathError, LimitExceededError, ValidationError
from agui_state.models import Operation, State
from agui_state.patch import apply_patch, diff, format_pointer, parse_pointer, validate_patch
from agui_state.patch.ops import ParsedOp
from agui_state.patch.pointer import find, list_index
from agui_state.patch.values import MAX_INT_DIGITS
from agui_state.store.jsonutil import copy_json, utf8_len
from agui_state.store.limits import StoreLimits, check_key, check_limits, check_state, check_value
from agui_state.store.sizing import apply_sized

__all__ = [
    "Applied",
    "Prepared",
    "apply_prepared",
    "delete_ops",
    "parse_path",
    "prepare_patch",
    "prepare_value",
    "replace_with",
    "set_ops",
]


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of a checked write: new state, its size estimate, the delta.

    ``undo`` is set when the write was made in place (``apply_prepared(...,
    in_place=True)``): calling it puts the old state back, for a caller that
    abandons the write after all (a hook refused it).
    """

    state: State
    size: int
    ops: list[Operation]
    undo: Callable[[], None] | None = None


class Prepared(NamedTuple):
    """Validated operations: ``delta`` to record in the version, ``steps`` for the engine.

    Both hold the same private copies of the values (the store never mutates them).
    """

    delta: list[Operation]
    steps: list[ParsedOp]


def _prepared(delta: list[Operation]) -> Prepared:
    """Parse clean, valid operations for the engine."""
    steps = []
    for index, op in enumerate(delta):
        source = op.get("from")
        steps.append(
            ParsedOp(
                index,
                op["op"],
                op["path"],
                parse_pointer(op["path"]),
                source,
                None if source is None else parse_pointer(source),
                op.get("value"),
            )
        )
    return Prepared(delta, steps)


def parse_path(path: Any) -> list[str]:
    """Parse a JSON Pointer given to a store method.

    Raises:
        InvalidPathError: Not a string, or malformed.
    """
    if not isinstance(path, str):
        raise InvalidPathError(repr(path), f"a path must be a string, got {type(path).__name__}")
    return parse_pointer(path)


# ----------------------------------------------------------------- preparing
def _target(raw: Mapping[str, Any]) -> tuple[str, list[str] | None]:
    """Return an operation's path and tokens (None if malformed: the engine reports it)."""
    path = raw.get("path")
    if not isinstance(path, str):
        return "", None
    try:
        return path, parse_pointer(path)
    except InvalidPathError:
        return path, None


class _Unusual(Exception):
    """The one-pass preparation met something it leaves to the checked path."""


_OPS = frozenset(("add", "remove", "replace", "move", "copy", "test"))
_WITH_VALUE = frozenset(("add", "replace", "test"))
_WITH_FROM = frozenset(("move", "copy"))
_NEW_KEY = frozenset(("add", "move", "copy"))
_INT_BOUND = 10**MAX_INT_DIGITS


def _copy_plain(value: Any, level: int, limits: StoreLimits) -> Any:
    """Copy a value of plain JSON types within the limits, ``level`` containers deep.

    Raises:
        _Unusual: Anything else (a limit broken, a NaN, a tuple, a subclass...),
            left to the checked path, which names the problem exactly.
    """
    kind = type(value)
    if kind is str:
        if len(value) * 4 > limits.max_string_bytes and utf8_len(value) > limits.max_string_bytes:
            raise _Unusual
        return value
    if kind is int:
        if not -_INT_BOUND < value < _INT_BOUND:
            raise _Unusual
        return value
    if kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _Unusual
        return value
    if level >= limits.max_depth:  # also stops circular input
        raise _Unusual
    if kind is dict:
        out = {}
        max_key = limits.max_key_bytes
        for key, item in value.items():
            if type(key) is not str or (len(key) * 4 > max_key and utf8_len(key) > max_key):
                raise _Unusual
            out[key] = _copy_plain(item, level + 1, limits)
        return out
    if kind is list:
        return [_copy_plain(item, level + 1, limits) for item in value]
    raise _Unusual


def _prepare_plain(patch: list[Any], limits: StoreLimits) -> Prepared:
    """One pass over a patch of well-formed operations with plain values.

    Accepts exactly what the checked path accepts, and returns the same
    operations (it only handles the subset where nothing can go wrong).

    Raises:
        _Unusual: Anything the checked path must look at.
    """
    delta: list[Operation] = []
    steps: list[ParsedOp] = []
    for index, raw in enumerate(patch):
        if type(raw) is not dict:
            raise _Unusual
        kind = raw.get("op")
        path = raw.get("path")
        if type(kind) is not str or kind not in _OPS or type(path) is not str:
            raise _Unusual
        try:
            tokens = parse_pointer(path)
        except InvalidPathError:
            raise _Unusual from None
        if tokens and kind in _NEW_KEY:
            key = tokens[-1]
            if len(key) * 4 > limits.max_key_bytes and utf8_len(key) > limits.max_key_bytes:
                raise _Unusual
        clean: Operation = {"op": kind, "path": path}
        value: Any = None
        source: str | None = None
        source_tokens: list[str] | None = None
        if kind in _WITH_VALUE:
            if "value" not in raw:
                raise _Unusual
            value = clean["value"] = _copy_plain(raw["value"], len(tokens), limits)
        elif kind in _WITH_FROM:
            source = raw.get("from")
            if type(source) is not str:
                raise _Unusual
            try:
                source_tokens = parse_pointer(source)
            except InvalidPathError:
                raise _Unusual from None
            clean["from"] = source
        delta.append(clean)
        steps.append(ParsedOp(index, kind, path, tokens, source, source_tokens, value))
    return Prepared(delta, steps)


def prepare_patch(patch: Any, limits: StoreLimits, ops_before: int = 0) -> Prepared:
    """Validate a patch and return normalized operations with copied values.

    Members other than ``op``/``path``/``value``/``from`` are dropped (RFC 6902
    says to ignore them), so a stored delta only holds what was applied.

    Args:
        patch: A list of RFC 6902 operations.
        limits: The limits to enforce.
        ops_before: Operations already in the same transaction (they count
            towards ``max_ops_per_patch``).

    Raises:
        PatchError: Malformed patch or operation, or a value that is not pure
            JSON (names the operation's index, op and path).
        LimitExceededError: Too many operations, or a value too deep or with
            a key or string too long.
    """
    if type(patch) is list:
        if len(patch) + ops_before > limits.max_ops_per_patch:
            raise LimitExceededError(
                "max_ops_per_patch", len(patch) + ops_before, limits.max_ops_per_patch
            )
        try:
            return _prepare_plain(patch, limits)
        except _Unusual:
            pass
    return _prepare_checked(patch, limits, ops_before)


def _prepare_checked(patch: Any, limits: StoreLimits, ops_before: int) -> Prepared:
    """The reference preparation: every check in order, exact error reports."""
    if isinstance(patch, (str, bytes, bytearray)) or not isinstance(patch, Sequence):
        validate_patch(patch)  # raises the engine's PatchError for a non-patch
    maximum = limits.max_ops_per_patch
    # Count first: never walk a gigantic patch only to reject it afterwards.
    if len(patch) + ops_before > maximum:
        raise LimitExceededError("max_ops_per_patch", len(patch) + ops_before, maximum)
    for raw in patch:
        if isinstance(raw, Mapping):
            path, tokens = _target(raw)
            depth = len(tokens) if tokens is not None else 0
            kind = raw.get("op")
            if tokens and kind in ("add", "copy", "move"):
                check_key(tokens[-1], path, limits)
            if "value" in raw and kind in ("add", "replace", "test"):
                check_limits(raw["value"], path, depth, limits)
    out: list[Operation] = []
    for op in validate_patch(patch):
        kind = op["op"]
        clean: Operation = {"op": kind, "path": op["path"]}
        if "value" in op and kind in ("add", "replace", "test"):
            clean["value"] = copy_json(op["value"])
        if kind in ("move", "copy"):
            clean["from"] = op["from"]
        out.append(clean)
    return _prepared(out)


def prepare_value(path: Any, value: Any, limits: StoreLimits) -> tuple[list[str], Any]:
    """Validate ``value`` for ``set(path, value)``; return the path tokens and a copy.

    Raises:
        InvalidPathError: Malformed path.
        ValidationError: Not pure JSON, or a non-object for the root.
        LimitExceededError: A limit is exceeded.
    """
    tokens = parse_path(path)
    # Missing parents are created as objects, so a value at a pointer of n
    # tokens sits under n containers: check that before anything walks the
    # path (a 10,000-token pointer must fail here, not in a recursion).
    if len(tokens) > limits.max_depth:
        raise LimitExceededError(
            "max_depth",
            len(tokens),
            limits.max_depth,
            format_pointer(tokens[: limits.max_depth + 1]),  # where the limit is crossed
        )
    if not tokens and not isinstance(value, dict):
        raise ValidationError(
            "/", f"the state root must be a JSON object, got {type(value).__name__}"
        )
    for i in range(len(tokens)):
        # Any of these keys may have to be created (missing parents).
        check_key(tokens[i], format_pointer(tokens[: i + 1]), limits)
    try:
        return tokens, _copy_plain(value, len(tokens), limits)
    except _Unusual:
        pass
    check_value(value, path, len(tokens), limits)
    return tokens, copy_json(value)


# --------------------------------------------------------------- building ops
def set_ops(state: State, path: str, tokens: list[str], value: Any) -> Prepared:
    """Return the operations that set ``path`` to ``value``, creating missing parent objects.

    Missing parents are created in a single ``add`` of the first missing one,
    wrapping the value in objects, so the delta stays one operation.

    Raises:
        InvalidPathError: A parent is a scalar, or an array index is out of range.
    """
    return _prepared(_set_delta(state, path, tokens, value))


def _set_delta(state: State, path: str, tokens: list[str], value: Any) -> list[Operation]:
    if not tokens:
        return [{"op": "replace", "path": "", "value": value}]
    node: Any = state
    for i, token in enumerate(tokens[:-1]):
        if isinstance(node, dict):
            if token not in node:
                wrapped = value
                for inner in reversed(tokens[i + 1 :]):
                    wrapped = {inner: wrapped}
                return [{"op": "add", "path": format_pointer(tokens[: i + 1]), "value": wrapped}]
            node = node[token]
        elif isinstance(node, list):
            index = list_index(token)
            if index is None or index >= len(node):
                where = format_pointer(tokens[: i + 1])
                raise InvalidPathError(path, f"{where!r} is not an element of the array")
            node = node[index]
        else:
            where = format_pointer(tokens[:i])
            raise InvalidPathError(path, f"{where!r} is a {type(node).__name__}, not a container")
    last = tokens[-1]
    if isinstance(node, dict):
        kind = "replace" if last in node else "add"
        return [{"op": kind, "path": path, "value": value}]
    if isinstance(node, list):
        index = list_index(last)
        if last == "-" or index == len(node):
            return [{"op": "add", "path": path, "value": value}]
        if index is None:
            raise InvalidPathError(path, f"{last!r} is not an array index")
        if index < len(node):
            return [{"op": "replace", "path": path, "value": value}]
        raise InvalidPathError(path, f"index {last} is out of range (array of {len(node)})")
    where = format_pointer(tokens[:-1])
    raise InvalidPathError(path, f"{where!r} is a {type(node).__name__}, not a container")


def delete_ops(state: State, path: str, tokens: list[str]) -> Prepared:
    """Return the operation that removes ``path``.

    Raises:
        InvalidPathError: ``path`` is the root or does not exist.
    """
    if not tokens:
        raise InvalidPathError(path, "cannot delete the root (use set('', {}) to clear the state)")
    found, _ = find(state, tokens)
    if not found:
        raise InvalidPathError(path, "no value at this path")
    return _prepared([{"op": "remove", "path": path}])


# ------------------------------------------------------------------- applying
def apply_prepared(
    state: State, size: int, ops: Prepared, limits: StoreLimits, in_place: bool = False
) -> Applied:
    """Apply prepared operations; return the new state, size estimate and delta.

    ``state`` is not mutated, unless ``in_place`` (the caller holds the only
    reference to it; see :mod:`agui_state.store.sizing`): then a failure
    here leaves it as it was, and the result's ``undo`` restores it later.
    The new state must still be a JSON object and within ``max_state_bytes``.

    Raises:
        PatchError: An operation failed (names its index, op and path).
        LimitExceededError: ``max_state_bytes``, or ``max_depth`` for a value
            brought in by ``move``/``copy``.
        ValidationError: The root would no longer be a JSON object.
    """
    new, size, applier = apply_sized(state, size, ops.steps, limits, in_place=in_place)
    if not isinstance(new, dict):
        applier.undo()
        raise ValidationError(
            "/", f"the state root must be a JSON object, got {type(new).__name__}"
        )
    if size > limits.max_state_bytes:
        applier.undo()
        raise LimitExceededError("max_state_bytes", size, limits.max_state_bytes)
    return Applied(new, size, ops.delta, applier.undo if applier.undo_log else None)


def replace_with(state: State, target: State, limits: StoreLimits) -> Applied:
    """Return the write that turns ``state`` into ``target`` (restoring a snapshot).

    The delta is ``diff(state, target)``, or a single root ``replace`` when the
    diff would exceed ``max_ops_per_patch`` (a restore must not fail because
    the states are far apart). The new state is checked in full (O(state),
    like the diff) and its size recomputed exactly.

    Raises:
        LimitExceededError: ``target`` breaks a limit.
        ValidationError: ``target`` is not pure JSON.
    """
    # Checked first: diff() recurses, so the depth must be known bounded.
    check_state(target, limits)
    ops = diff(state, target)
    if len(ops) > limits.max_ops_per_patch:
        ops = [{"op": "replace", "path": "", "value": target}]
    new = apply_patch(state, ops)
    return Applied(new, check_state(new, limits), ops)
