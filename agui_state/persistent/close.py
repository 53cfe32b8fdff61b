"""Last-resort cleanup of a :class:`~agui_state.persistent.PersistentStateStore`.

A module-level function, not a method: ``weakref.finalize`` must hold no
reference to the store, or the store would never be collected.
"""

from __future__ import annotations

import logging
from typing import Protocol

from agui_state.errors import StateError, StorageError
from agui_state.persistent.writer import WriteBehindQueue

__all__ = ["DEFAULT_CLOSE_TIMEOUT", "Closeable", "finalize"]


class Closeable(Protocol):
    """What the finalizer closes: an owned backend, or a lease on a shared one."""

    def close(self) -> None:
        """Close (or release) it."""
        ...


DEFAULT_CLOSE_TIMEOUT = 30.0
"""Seconds ``close`` (and the finalizer) keep trying to deliver pending versions."""


def finalize(
    queue: WriteBehindQueue | None,
    backend: Closeable | None,
    log: logging.Logger,
    state_id: str,
) -> None:
    """Drain and close what an unclosed store left behind (GC or interpreter exit)."""
    try:
        if queue is not None:
            queue.close(DEFAULT_CLOSE_TIMEOUT)
    except StorageError as exc:
        log.error("state %r was not closed and could not be drained: %s", state_id, exc)
    finally:
        if backend is not None:
            try:
                backend.close()
            except StateError:
                log.exception("closing the backend of state %r failed", state_id)
