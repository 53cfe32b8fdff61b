"""Context-manager behaviour shared by transactions and closeable resources.

Every transaction in the package (the in-memory store's, the persistent
store's, the backends') follows one rule in a ``with`` block: commit on a
normal exit, roll back on an exception, and do nothing if the block already
finished it explicitly. Resources (backends, persistent stores) close on exit.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Self

from agui_state.errors import TransactionError

__all__ = ["CloseOnExit", "CommitOnExit"]


class CommitOnExit:
    """``with`` commits on a normal exit and rolls back on an exception.

    Subclasses provide ``commit()`` and ``rollback()``, and override
    :meth:`_finished` when they can tell that the block already committed or
    rolled back (then the exit does nothing).
    """

    def commit(self) -> object:  # pragma: no cover - always overridden
        raise NotImplementedError

    def rollback(self) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def _finished(self) -> bool:
        """Whether the transaction was already committed or rolled back."""
        return False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._finished():
            return
        if exc_type is None:
            self.commit()
        else:
            # A rollback that fails because the transaction is already over
            # must not replace the exception that ended the block.
            with contextlib.suppress(TransactionError):
                self.rollback()


class CloseOnExit:
    """``with`` calls ``close()`` on exit, whatever happened in the block."""

    def close(self) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
