"""Limits and options of the in-memory store, and the value checks behind them.

:class:`StoreLimits` bounds what one state may hold; :class:`StoreOptions`
configures history keeping. Both are frozen and validated on construction
(:class:`~agui_state.errors.ConfigError` names the bad field).

Limits are enforced on every write path of
:class:`~agui_state.store.StateStore` (``set``, ``delete``, ``apply_patch``,
transaction commit, ``restore_snapshot``, ``load_history``); a write that
would break one raises :class:`~agui_state.errors.LimitExceededError` and
changes nothing.

Depth: a container at the root has depth 1, a container inside it depth 2,
and so on; a value inserted at a pointer with ``n`` tokens therefore reaches
depth ``n + depth(value)``. Depth is capped at :data:`MAX_DEPTH_CAP` so that
the recursive helpers (copying, comparing, serializing) can never exhaust the
Python stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agui_state.errors import ConfigError, LimitExceededError, ValidationError
from agui_state.patch import check_json
from agui_state.patch.pointer import escape_token
from agui_state.store.jsonutil import copy_json, json_size, utf8_len

__all__ = [
    "MAX_DEPTH_CAP",
    "StoreLimits",
    "StoreOptions",
    "check_depth",
    "check_key",
    "check_limits",
    "check_metadata",
    "check_state",
    "check_value",
]

MAX_DEPTH_CAP = 256
"""Largest accepted ``max_depth`` (recursion safety of copy/compare/serialize)."""


def _int_field(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class StoreLimits:
    """Size limits of one state.

    Attributes:
        max_state_bytes: Maximum size of the whole state as compact UTF-8 JSON
            (default 16 MiB). The store keeps a running *estimate* updated
            from the sizes of the values each write adds, removes or replaces
            (never by serializing the whole state per write); it equals the
            exact compact JSON size and is recomputed in full on
            ``restore_snapshot`` and ``load_history``.
        max_ops_per_patch: Maximum operations in one patch, and in the
            concatenated delta of one transaction (default 10,000).
        max_depth: Maximum nesting depth of containers, the root object being
            depth 1 (default 64, at most :data:`MAX_DEPTH_CAP`).
        max_key_bytes: Maximum UTF-8 bytes of any object key (default 1 KiB).
        max_string_bytes: Maximum UTF-8 bytes of any string value (default 1 MiB).
    """

    max_state_bytes: int = 16 * 1024 * 1024
    max_ops_per_patch: int = 10_000
    max_depth: int = 64
    max_key_bytes: int = 1024
    max_string_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        _int_field("limits.max_state_bytes", self.max_state_bytes, 2)  # "{}" is 2 bytes
        _int_field("limits.max_ops_per_patch", self.max_ops_per_patch, 1)
        _int_field("limits.max_depth", self.max_depth, 1)
        if self.max_depth > MAX_DEPTH_CAP:
            raise ConfigError(
                "limits.max_depth", f"must be at most {MAX_DEPTH_CAP}, got {self.max_depth}"
            )
        _int_field("limits.max_key_bytes", self.max_key_bytes, 1)
        _int_field("limits.max_string_bytes", self.max_string_bytes, 1)


@dataclass(frozen=True)
class StoreOptions:
    """Options of a :class:`~agui_state.store.StateStore`.

    Attributes:
        checkpoint_interval: Version ``n`` carries a full-state checkpoint
            when ``n % checkpoint_interval == 0`` (default 100). Time travel
            replays at most ``checkpoint_interval - 1`` deltas.
        max_history: How many versions are kept in memory (default 10,000;
            ``None``: unbounded). Older versions are dropped, keeping the
            state just before the oldest kept version so that ``state_at``
            still works for the whole kept window.
        limits: Size limits of the state.
    """

    checkpoint_interval: int = 100
    max_history: int | None = 10_000
    limits: StoreLimits = field(default_factory=StoreLimits)

    def __post_init__(self) -> None:
        _int_field("checkpoint_interval", self.checkpoint_interval, 1)
        if self.max_history is not None:
            _int_field("max_history", self.max_history, 0)
        if not isinstance(self.limits, StoreLimits):
            raise ConfigError("limits", f"must be a StoreLimits, got {type(self.limits).__name__}")


# ---------------------------------------------------------------- value checks
def _check_string(text: str, where: str, limits: StoreLimits) -> None:
    maximum = limits.max_string_bytes
    if len(text) * 4 <= maximum:  # cannot exceed: at most 4 UTF-8 bytes per character
        return
    size = utf8_len(text)
    if size > maximum:
        raise LimitExceededError("max_string_bytes", size, maximum, where)


def check_key(key: str, where: str, limits: StoreLimits) -> None:
    """Raise :class:`LimitExceededError` if ``key`` is longer than ``max_key_bytes``."""
    maximum = limits.max_key_bytes
    if len(key) * 4 <= maximum:
        return
    size = utf8_len(key)
    if size > maximum:
        raise LimitExceededError("max_key_bytes", size, maximum, where)


def _walk(value: Any, path: str, depth: int, limits: StoreLimits, sizes: bool) -> None:
    """Check the depth (and, with ``sizes``, key and string bytes) of ``value``.

    Iterative and depth-first, so absurdly deep or even circular input fails
    fast with a limit error instead of a RecursionError. ``depth`` is the
    number of containers above ``value``.
    """
    maximum = limits.max_depth
    if isinstance(value, str):
        if sizes:
            _check_string(value, path, limits)
        return
    if not isinstance(value, (dict, list)):
        return
    if depth + 1 > maximum:
        raise LimitExceededError("max_depth", depth + 1, maximum, path)
    stack: list[tuple[Any, int, str]] = [(value, depth + 1, path)]
    while stack:
        node, level, ptr = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(key, str):
                token = escape_token(key)
                if sizes:
                    check_key(key, f"{ptr}/{token}", limits)
            else:
                token = str(key)
            if isinstance(child, (dict, list)):
                if level + 1 > maximum:
                    raise LimitExceededError("max_depth", level + 1, maximum, f"{ptr}/{token}")
                stack.append((child, level + 1, f"{ptr}/{token}"))
            elif sizes and isinstance(child, str):
                _check_string(child, f"{ptr}/{token}", limits)


def check_limits(value: Any, path: str, depth: int, limits: StoreLimits) -> None:
    """Check a value's depth and its key and string sizes (not its JSON-ness).

    Args:
        value: The value.
        path: Where it goes (named in errors).
        depth: Number of containers above it (the token count of ``path``).
        limits: The limits to enforce.

    Raises:
        LimitExceededError: Too deep, or a key or string too long.
    """
    _walk(value, path, depth, limits, sizes=True)


def check_value(value: Any, path: str, depth: int, limits: StoreLimits) -> None:
    """Check a value about to be inserted at ``path``.

    Args:
        value: The value.
        path: Where it goes (named in errors).
        depth: Number of containers above it (the token count of ``path``).
        limits: The limits to enforce.

    Raises:
        LimitExceededError: Too deep, or a key or string too long.
        ValidationError: Not pure JSON (NaN, sets, bytes, non-string keys...).
    """
    _walk(value, path, depth, limits, sizes=True)
    check_json(value, path)


def check_depth(value: Any, path: str, depth: int, limits: StoreLimits) -> None:
    """Check only the nesting depth of an already validated value moved to ``path``."""
    _walk(value, path, depth, limits, sizes=False)


def check_state(state: Any, limits: StoreLimits, what: str = "state") -> int:
    """Check a whole state and return its compact JSON size.

    Raises:
        ValidationError: Not a JSON object at the root, or not pure JSON.
        LimitExceededError: A limit is exceeded.
    """
    if not isinstance(state, dict):
        raise ValidationError(what, f"must be a JSON object, got {type(state).__name__}")
    check_value(state, "", 0, limits)
    size = json_size(state)
    if size > limits.max_state_bytes:
        raise LimitExceededError("max_state_bytes", size, limits.max_state_bytes)
    return size


def check_metadata(metadata: Any, limits: StoreLimits, what: str = "metadata") -> dict[str, Any]:
    """Validate version or snapshot metadata and return a private copy.

    ``None`` gives ``{}``. Metadata must be a dict of JSON values, nested no
    deeper than ``max_depth``.

    Raises:
        ValidationError: Naming the offending key.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationError(what, f"must be a dict, got {type(metadata).__name__}")
    try:
        _walk(metadata, "", 0, limits, sizes=False)
        check_json(metadata, "")
    except LimitExceededError as exc:
        raise ValidationError(
            f"{what}{exc.path or ''}", f"nested deeper than {exc.maximum}"
        ) from exc
    except ValidationError as exc:
        field_name = exc.field if exc.field not in ("", "/") else ""
        raise ValidationError(f"{what}{field_name}", exc.reason) from exc
    copied: dict[str, Any] = copy_json(metadata)
    return copied
