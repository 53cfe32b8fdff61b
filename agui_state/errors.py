"""The agui-state error hierarchy.

Every error the library raises on purpose derives from :class:`StateError`, so
``except StateError`` catches all of them. Backends translate their driver's
exceptions into these at their boundary (``raise ... from exc``), so callers
never have to know which driver is underneath.

::

    StateError
    ├── InvalidPathError        a JSON Pointer that is malformed or does not resolve
    ├── PatchError              a JSON Patch operation failed (carries the op index)
    ├── ValidationError         a value or argument that is not acceptable (non-JSON, bad id)
    ├── NotFoundError           a state, version or snapshot that does not exist
    ├── ConflictError           optimistic-concurrency loss: someone else wrote first
    ├── TransactionError        a transaction used after commit/rollback, or misused
    ├── LimitExceededError      a configured limit (size, depth, ops) was exceeded
    ├── ConfigError             a configuration field is invalid (names the field)
    └── StorageError            a backend failed
        ├── BackendUnavailableError   cannot reach the backend (URL shown redacted)
        │   └── WriteOutcomeUnknownError  a write that may or may not be stored
        ├── BackendTimeoutError       the backend did not answer in time
        ├── CorruptDataError          stored data cannot be read back (names the file/key)
        └── QueueFullError            the write-behind queue is full (raise policy)

Messages always name the offending path, operation, id, field or value, so a
log line alone is enough to find what was wrong.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendTimeoutError",
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "InvalidPathError",
    "LimitExceededError",
    "NotFoundError",
    "PatchError",
    "QueueFullError",
    "StateError",
    "StorageError",
    "TransactionError",
    "ValidationError",
    "WriteOutcomeUnknownError",
]


def _short(value: Any, limit: int = 80) -> str:
    """Return a bounded ``repr`` so huge values never flood a message."""
    text = repr(value)
    if len(text) > limit:
        return text[: limit - 3] + "..."
    return text


class StateError(Exception):
    """Base class of every error raised by agui-state."""


class InvalidPathError(StateError):
    """A JSON Pointer is malformed or does not resolve in the document.

    Attributes:
        path: The offending JSON Pointer, as given.
        reason: Why it was rejected.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"invalid path {path!r}: {reason}")


class PatchError(StateError):
    """A JSON Patch could not be applied; the document is left unchanged.

    Attributes:
        index: Index of the failing operation in the patch (``None`` when the
            patch as a whole is malformed, e.g. not a list).
        op: The operation name (``"add"``, ``"test"``...), when known.
        path: The operation's ``path``, when known.
        reason: Why it failed.
    """

    def __init__(
        self,
        reason: str,
        *,
        index: int | None = None,
        op: str | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = reason
        self.index = index
        self.op = op
        self.path = path
        where = "patch" if index is None else f"patch operation {index}"
        if op is not None:
            where += f" ({op} {path!r})" if path is not None else f" ({op})"
        super().__init__(f"{where} failed: {reason}")


class ValidationError(StateError):
    """A value or argument is not acceptable.

    Attributes:
        field: What was validated (a JSON Pointer into the value, an argument
            name, or ``"state_id"``).
        reason: Why it was rejected.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid {field}: {reason}")


class NotFoundError(StateError, LookupError):
    """A state, version or snapshot does not exist.

    Attributes:
        kind: ``"state"``, ``"version"`` or ``"snapshot"``.
        state_id: The state looked in.
        item_id: The version number/id or snapshot id, for versions and snapshots.
    """

    def __init__(self, kind: str, state_id: str, item_id: str | int | None = None) -> None:
        self.kind = kind
        self.state_id = state_id
        self.item_id = item_id
        if item_id is None:
            msg = f"{kind} {state_id!r} not found"
        else:
            msg = f"{kind} {item_id!r} of state {state_id!r} not found"
        super().__init__(msg)


class ConflictError(StateError):
    """Optimistic concurrency lost: the state moved on since the write began.

    Attributes:
        state_id: The state written to.
        expected: The version the writer expected to build on.
        actual: The version actually found (``None`` if unknown).
    """

    def __init__(
        self, state_id: str, expected: int | None, actual: int | None, detail: str = ""
    ) -> None:
        self.state_id = state_id
        self.expected = expected
        self.actual = actual
        msg = f"conflict on state {state_id!r}: expected version {expected}, found version {actual}"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class TransactionError(StateError):
    """A transaction was misused (used after commit/rollback, nested wrongly...)."""


class LimitExceededError(StateError):
    """A configured limit was exceeded; nothing was written.

    Attributes:
        limit: The limit's name (e.g. ``"max_state_bytes"``).
        value: The measured value.
        maximum: The configured maximum.
        path: Where in the document, when it applies.
    """

    def __init__(self, limit: str, value: int, maximum: int, path: str | None = None) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.path = path
        at = f" at {path!r}" if path is not None else ""
        super().__init__(f"{limit} exceeded{at}: {value} > {maximum}")


class ConfigError(StateError, ValueError):
    """A configuration field is invalid.

    Attributes:
        field: The configuration field (e.g. ``"file_options.shard_count"``).
        reason: Why it was rejected.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid config field {field!r}: {reason}")


class StorageError(StateError):
    """A storage backend failed.

    Attributes:
        backend: The backend type (``"file"``, ``"sql"``, ``"redis"``...), when known.
    """

    def __init__(self, message: str, *, backend: str | None = None) -> None:
        self.backend = backend
        super().__init__(f"[{backend}] {message}" if backend else message)


class BackendUnavailableError(StorageError):
    """The backend cannot be reached. Messages carry the URL with its password redacted."""


class WriteOutcomeUnknownError(BackendUnavailableError):
    """A write failed in a way that leaves its outcome unknown.

    The connection broke after the write was sent, and the backend could not
    be asked whether it stored it. Memory does not show the write; the next
    write to the store asks the backend first and, if the version is
    stored (its id is at that number), adopts it. Never retry the same change
    blindly: it may be stored already.

    Attributes:
        state_id: The state written to.
        version: The number of the version whose outcome is unknown.
        version_id: Its id (how the stored version is recognized).
    """

    def __init__(self, state_id: str, version: int, version_id: str, reason: str) -> None:
        self.state_id = state_id
        self.version = version
        self.version_id = version_id
        super().__init__(
            f"outcome of version {version} of state {state_id!r} is unknown: {reason}; "
            "the next write checks whether it was stored"
        )


class BackendTimeoutError(StorageError):
    """The backend did not answer within the configured timeout."""


class CorruptDataError(StorageError):
    """Stored data cannot be read back.

    Attributes:
        location: The file, key or row that is corrupt.
    """

    def __init__(self, location: str, reason: str, *, backend: str | None = None) -> None:
        self.location = location
        self.reason = reason
        super().__init__(f"corrupt data in {location}: {reason}", backend=backend)


class QueueFullError(StorageError):
    """The asynchronous write queue is full and the policy is ``"raise"``.

    Raised before memory changes, so the rejected write has no effect.
    """

    def __init__(self, capacity: int, state_id: str) -> None:
        self.capacity = capacity
        self.state_id = state_id
        super().__init__(
            f"write queue full ({capacity} pending) for state {state_id!r}; "
            "write rejected, state unchanged",
            backend=None,
        )


# Re-exported helper for modules that build messages from arbitrary values.
short_repr = _short
