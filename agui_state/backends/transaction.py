"""Backend transactions: the :class:`Transaction` contract and the buffering one.

A :class:`BatchTransaction` queues writes and hands them to the backend's
atomic ``write_batch`` on commit, so every backend gets transactions from
its one write primitive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

from agui_state._context import CommitOnExit
from agui_state.backends.writes import Write
from agui_state.errors import TransactionError
from agui_state.models import State, StateSnapshot, StateVersion

__all__ = ["BatchTransaction", "BatchWriter", "Transaction"]


class BatchWriter(Protocol):
    """What a :class:`BatchTransaction` needs of its backend: the atomic write primitive."""

    def write_batch(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` atomically (see ``StorageBackend.write_batch``)."""


class Transaction(CommitOnExit, ABC):
    """A unit of writes applied atomically on :meth:`commit`.

    Use as a context manager: commits on normal exit, rolls back on an
    exception. After commit or rollback the transaction cannot be used.
    """

    @abstractmethod
    def set_state(
        self, state_id: str, state: State, *, expected_version: int | None = None
    ) -> None:
        """Queue a full-state checkpoint write."""

    @abstractmethod
    def save_version(self, state_id: str, version: StateVersion) -> None:
        """Queue a version append."""

    @abstractmethod
    def save_snapshot(self, state_id: str, snapshot: StateSnapshot) -> None:
        """Queue a snapshot write."""

    @abstractmethod
    def commit(self) -> None:
        """Apply every queued write atomically.

        Raises:
            ConflictError: A version conflicted; nothing was written.
            TransactionError: Already committed or rolled back.
        """

    @abstractmethod
    def rollback(self) -> None:
        """Discard every queued write."""


class BatchTransaction(Transaction):
    """A transaction that buffers writes and hands them to ``write_batch``."""

    def __init__(self, backend: BatchWriter) -> None:
        self._backend = backend
        self._writes: list[Write] = []
        self._done: str | None = None

    @property
    def writes(self) -> list[Write]:
        """The queued writes, in order."""
        return list(self._writes)

    def _check_open(self) -> None:
        if self._done is not None:
            raise TransactionError(f"transaction already {self._done}")

    def set_state(
        self, state_id: str, state: State, *, expected_version: int | None = None
    ) -> None:
        self._check_open()
        self._writes.append(Write.of_state(state_id, state, expected_version))

    def save_version(self, state_id: str, version: StateVersion) -> None:
        self._check_open()
        self._writes.append(Write.of_version(state_id, version))

    def save_snapshot(self, state_id: str, snapshot: StateSnapshot) -> None:
        self._check_open()
        self._writes.append(Write.of_snapshot(state_id, snapshot))

    def commit(self) -> None:
        self._check_open()
        writes, self._writes = self._writes, []
        try:
            if writes:
                self._backend.write_batch(writes)
        except BaseException:
            self._done = "failed"
            raise
        self._done = "committed"

    def _finished(self) -> bool:
        # Committed, failed or rolled back inside a ``with`` block: the exit
        # leaves it alone, like the store's own transactions.
        return self._done is not None

    def rollback(self) -> None:
        self._check_open()
        self._done = "rolled back"
        self._writes = []
