"""The transaction of a :class:`~agui_state.persistent.PersistentStateStore`.

A thin wrapper over the in-memory :class:`~agui_state.store.StoreTransaction`:
staging happens on the store's private copy; the commit runs under the
lock the persistent store hands over (its write lock), so the one version
it produces goes through the persistence hook like any other write
(durable before ``commit`` returns in synchronous mode, queued in
asynchronous mode).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from agui_state._context import CommitOnExit
from agui_state.models import JSONValue, StateVersion
from agui_state.store import StoreTransaction

__all__ = ["PersistentTransaction"]


class PersistentTransaction(CommitOnExit):
    """A store transaction whose commit persists exactly one version.

    Changes are staged on a private copy; :meth:`commit` publishes and
    persists them as one version (nothing if rollback or an error). Use as
    a context manager: commit on normal exit, rollback on an exception.
    """

    def __init__(self, tx: StoreTransaction, commit_lock: AbstractContextManager[Any]) -> None:
        """Wrap ``tx``; ``commit_lock`` is held while it commits.

        Created by :meth:`~agui_state.persistent.PersistentStateStore.transaction`
        with a transaction of its in-memory store and its write lock.
        """
        self._tx = tx
        self._commit_lock = commit_lock

    def get(self, path: str = "") -> JSONValue:
        """Return the staged value at ``path``."""
        return self._tx.get(path)

    def set(self, path: str, value: JSONValue) -> None:
        """Stage setting ``value`` at ``path``."""
        self._tx.set(path, value)

    def delete(self, path: str) -> None:
        """Stage deleting the value at ``path``."""
        self._tx.delete(path)

    def apply(self, patch: list[dict[str, Any]]) -> None:
        """Stage a JSON Patch."""
        self._tx.apply(patch)

    @property
    def metadata(self) -> dict[str, Any]:
        """Metadata recorded on the committed version (modifiable in place)."""
        return self._tx.metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any] | None) -> None:
        self._tx.metadata = value

    @property
    def base_version(self) -> int:
        """The store version this transaction builds on."""
        return self._tx.base_version

    def commit(self) -> StateVersion | None:
        """Publish and persist the staged changes as one version.

        Returns:
            The new version, or ``None`` when nothing was staged (then
            nothing is written).

        Raises:
            ConflictError: The store moved on since the transaction began.
            StorageError: Persisting failed; nothing was published.
        """
        with self._commit_lock:
            return self._tx.commit()

    def rollback(self) -> None:
        """Discard the staged changes."""
        self._tx.rollback()

    def _finished(self) -> bool:
        return not self._tx.is_open
