"""Write counters of a :class:`~agui_state.persistent.PersistentStateStore`.

Kept apart from :mod:`agui_state.persistent` so the store module holds only
the write path and the public API. The counters cover the store's own
(synchronous) writes and errors; in asynchronous mode the write-behind
queue keeps its own, merged in by :meth:`WriteStats.report`.
"""

from __future__ import annotations

import threading
from typing import Any

from agui_state.backends.base import StorageBackend
from agui_state.errors import ConflictError, StateError
from agui_state.persistent.writer import WriteBehindQueue

__all__ = ["WriteStats"]


class WriteStats:
    """Counters of persisted versions and write errors, behind one lock.

    Attributes:
        lock: Guards every counter (writers and :meth:`report` hold it).
        persisted: The newest version known durable (``None``: unknown yet).
        write_errors: Failed writes, lost races excluded.
        conflicts: Writes that lost a race with another process.
        last_error: The message of the last failed write.
        versions_written: Versions this store wrote itself.
        batches_written: Backend writes this store made itself.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.persisted: int | None = None
        self.write_errors = 0
        self.conflicts = 0
        self.last_error: str | None = None
        self.versions_written = 0
        self.batches_written = 0

    def record_written(self, number: int) -> None:
        """Count version ``number`` as written in its own batch."""
        with self.lock:
            self.persisted = number
            self.versions_written += 1
            self.batches_written += 1

    def set_persisted(self, number: int) -> None:
        """Record ``number`` as the newest durable version (after a load)."""
        with self.lock:
            self.persisted = number

    def record_error(self, exc: BaseException) -> None:
        """Count a failed write."""
        with self.lock:
            if isinstance(exc, ConflictError):
                # Lost races are counted apart: they are not storage failures.
                self.conflicts += 1
            else:
                self.write_errors += 1
            self.last_error = str(exc)

    def report(
        self,
        backend: StorageBackend,
        queue: WriteBehindQueue | None,
        *,
        state_id: str,
        memory_version: int,
        synchronous: bool,
        closed: bool,
    ) -> dict[str, Any]:
        """Return the figures of ``PersistentStateStore.stats`` (no secrets)."""
        with self.lock:
            out: dict[str, Any] = {
                "backend_type": backend.backend_type,
                "url": backend.config.redacted_url,
                "state_id": state_id,
                "memory_version": memory_version,
                "persisted_version": self.persisted,
                "synchronous": synchronous,
                "sync_queue_size": 0,
                "queue_capacity": 0,
                "queue_full_policy": None,
                "write_errors": self.write_errors,
                "conflicts": self.conflicts,
                "last_error": self.last_error,
                "batches_written": self.batches_written,
                "versions_written": self.versions_written,
                "closed": closed,
            }
        if queue is not None:
            q = queue.stats()
            out.update(q)
            # The queue counts its own failures; the store's (snapshot
            # writes) are added so none is hidden.
            out["write_errors"] += self.write_errors
            out["last_error"] = q["last_error"] or self.last_error
            if q["persisted_version"] is None:
                out["persisted_version"] = self.persisted
        try:
            out["backend"] = backend.stats()
        except StateError as exc:
            out["backend"] = {"backend_type": backend.backend_type, "error": str(exc)}
        return out
