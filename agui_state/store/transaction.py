"""Transactions of the in-memory store.

A :class:`StoreTransaction` works on a private view of the state taken when
it begins (the store's current state and version). Its writes are checked
immediately (so errors surface at the call that caused them, and ``get``
sees the transaction's own writes) but stay invisible to everyone else until
:meth:`StoreTransaction.commit`, which publishes **one** version carrying the
concatenated delta. Nothing is published on rollback.

Concurrency is optimistic: if the store has moved on since the transaction
began, commit raises :class:`~agui_state.errors.ConflictError` and the caller
retries with a fresh transaction::

    while True:
        try:
            with store.transaction() as tx:
                tx.set("/count", tx.get("/count") + 1)
            break
        except ConflictError:
            continue

A transaction object is meant for one thread. Its first write path-copies
what it changes (the view is shared with the store); later writes go in
place into the containers only the transaction holds (see
:mod:`agui_state.patch.apply`), so many appends to a long list in one
transaction do not copy the list each time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Self

from agui_state._context import CommitOnExit
from agui_state.errors import (
    InvalidPathError,
    LimitExceededError,
    TransactionError,
    ValidationError,
)
from agui_state.models import Operation, StateVersion
from agui_state.patch.apply import untraced
from agui_state.patch.pointer import find
from agui_state.store.apply import (
    Applied,
    Prepared,
    apply_prepared,
    delete_ops,
    parse_path,
    prepare_patch,
    prepare_value,
    set_ops,
)
from agui_state.store.jsonutil import copy_json
from agui_state.store.limits import StoreLimits

__all__ = ["CommitFunction", "StoreTransaction"]


class _Probe:
    state: Any


def _attribute_refs() -> int:
    """The reference count of a document held only by an instance attribute, as ``_run`` sees it."""
    probe = _Probe()
    probe.state = {}
    return sys.getrefcount(probe.state)


_HELD_BY_ATTRIBUTE = untraced(_attribute_refs)

CommitFunction = Callable[[int, int, Applied, dict[str, Any]], StateVersion]
"""How the owning store publishes a transaction: ``(base, epoch, applied, metadata)``
to the new version. The store hands its own function over, so the
transaction needs nothing else of it (and neither module imports the other)."""


class StoreTransaction(CommitOnExit):
    """A group of writes committed as one version, or not at all.

    Use as a context manager (``with store.transaction() as tx:``): it commits
    on normal exit and rolls back on an exception. A failing call inside the
    transaction (bad path, limit, failed ``test`` operation...) has no effect
    on the transaction and leaves it usable.

    Created by :meth:`agui_state.store.StateStore.transaction`, which passes
    its current state and the function that publishes the commit.
    """

    def __init__(
        self,
        *,
        state_id: str,
        state: Any,
        base: int,
        size: int,
        epoch: int,
        limits: StoreLimits,
        commit: CommitFunction,
    ) -> None:
        self._state_id = state_id
        self._publish = commit
        self._limits = limits
        self._base = base
        self._epoch = epoch
        self._state = state
        self._size = size
        self._ops: list[Operation] = []
        self._metadata: dict[str, Any] = {}
        self._status: str | None = None  # None while open

    # ----------------------------------------------------------------- status
    @property
    def base_version(self) -> int:
        """The store version this transaction builds on."""
        return self._base

    @property
    def is_open(self) -> bool:
        """Whether the transaction can still be used."""
        return self._status is None

    @property
    def operations(self) -> list[Operation]:
        """A copy of the delta accumulated so far."""
        ops: list[Operation] = copy_json(self._ops)
        return ops

    @property
    def metadata(self) -> dict[str, Any]:
        """Metadata recorded on the committed version (a dict, validated at commit).

        The dict may be modified in place or replaced by assignment.
        """
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any] | None) -> None:
        self._check_open()
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ValidationError("metadata", f"must be a dict, got {type(value).__name__}")
        self._metadata = value

    def _check_open(self) -> None:
        if self._status is not None:
            raise TransactionError(
                f"transaction on state {self._state_id!r} already {self._status}"
            )

    # ------------------------------------------------------------------ reads
    def get(self, path: str = "") -> Any:
        """Return a deep copy of the value at ``path``, including this transaction's writes.

        Raises:
            InvalidPathError: Malformed path or no value there.
            TransactionError: The transaction is finished.
        """
        self._check_open()
        found, value = find(self._state, parse_path(path))
        if not found:
            raise InvalidPathError(path, "no value at this path")
        return copy_json(value)

    # ----------------------------------------------------------------- writes
    def set(self, path: str, value: Any) -> None:
        """Set ``path`` to ``value`` (missing parent objects are created).

        Raises:
            InvalidPathError: Malformed path, or a parent is not a container.
            ValidationError: ``value`` is not pure JSON (or not an object for the root).
            LimitExceededError: A limit would be exceeded.
            TransactionError: The transaction is finished.
        """
        self._check_open()
        tokens, copied = prepare_value(path, value, self._limits)
        self._run(set_ops(self._state, path, tokens, copied))

    def delete(self, path: str) -> None:
        """Remove the value at ``path``.

        Raises:
            InvalidPathError: Malformed path, the root, or no value there.
            TransactionError: The transaction is finished.
        """
        self._check_open()
        self._run(delete_ops(self._state, path, parse_path(path)))

    def apply(self, patch: list[dict[str, Any]]) -> None:
        """Apply an RFC 6902 patch atomically within the transaction.

        Raises:
            PatchError: The patch is malformed or an operation fails.
            ValidationError: A value is not pure JSON.
            LimitExceededError: A limit would be exceeded (the operation count
                includes the transaction's earlier operations).
            TransactionError: The transaction is finished.
        """
        self._check_open()
        self._run(prepare_patch(patch, self._limits, len(self._ops)))

    def _run(self, ops: Prepared) -> None:
        # The concatenated delta is one version: it obeys max_ops_per_patch too.
        total, maximum = len(self._ops) + len(ops.delta), self._limits.max_ops_per_patch
        if total > maximum:
            raise LimitExceededError("max_ops_per_patch", total, maximum)
        # In place when the view is the transaction's own (not the store's,
        # not returned by an earlier commit attempt); a failing write is undone.
        in_place = sys.getrefcount(self._state) <= _HELD_BY_ATTRIBUTE
        applied = apply_prepared(self._state, self._size, ops, self._limits, in_place)
        self._state, self._size = applied.state, applied.size
        self._ops.extend(applied.ops)

    # ---------------------------------------------------------------- finish
    def commit(self) -> StateVersion | None:
        """Publish the transaction's writes as one version.

        Returns:
            The new version, or None when the transaction wrote nothing.

        Raises:
            ConflictError: The store moved on since the transaction began
                (``expected`` = the base version, ``actual`` = the current one).
            ValidationError: The metadata is not pure JSON.
            TransactionError: The transaction is already finished.
            Exception: Whatever the store's ``on_version`` hook raised.

        After any failure the transaction is finished ("failed"): start a new one.
        """
        self._check_open()
        if not self._ops:
            self._status = "committed"
            return None
        applied = Applied(self._state, self._size, self._ops)
        try:
            version = self._publish(self._base, self._epoch, applied, self._metadata)
        except BaseException:
            self._status = "failed"
            raise
        self._status = "committed"
        return version

    def _finished(self) -> bool:
        return self._status is not None

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def rollback(self) -> None:
        """Discard the transaction's writes.

        Raises:
            TransactionError: The transaction is already finished.
        """
        self._check_open()
        self._status = "rolled back"
        self._ops = []

    def __repr__(self) -> str:
        status = self._status or "open"
        return (
            f"StoreTransaction(state_id={self._state_id!r}, base_version={self._base}, "
            f"operations={len(self._ops)}, status={status!r})"
        )
