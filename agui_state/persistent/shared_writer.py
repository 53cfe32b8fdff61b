"""One write-behind thread per backend, shared by every asynchronous store on it.

A server keeps one :class:`~agui_state.persistent.PersistentStateStore` per
thread (AG-UI conversation); with a thread per store, 10,000 open
conversations would be 10,000 writer threads. Here each store keeps its own
queue (:class:`SharedWriteQueue`: the same bounded queue, flush, close,
discard, stats and error reporting as
:class:`~agui_state.persistent.writer.WriteBehindQueue`, whose logic it
inherits), and one :class:`SharedWriter` thread per backend object drains
them all:

* **group commit across states**: each round takes the pending versions of
  every ready queue (the oldest first, at most ``batch_size`` per queue and
  ``_ROUND_LIMIT`` in all) and writes them in *one* backend transaction;
* **per-state order**: a queue only ever has its oldest versions in flight,
  in order, and nothing newer is written before they are acknowledged;
* **per-state errors**: when the group write fails, each queue's batch is
  written on its own, so a failing state (a conflict, a value its backend
  refuses) is retried, backed off and reported to *its* store only, while
  the others go through. A queue backing off never blocks the thread: it is
  skipped until its retry time (``flush``/``close`` end the wait at once).

Writers are reference-counted per backend: the first queue starts the
thread, the last ``close()`` stops it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from itertools import islice
from typing import Any

from agui_state.backends.base import StorageBackend
from agui_state.errors import ConflictError
from agui_state.models import StateVersion
from agui_state.persistent.writer import WriteBehindQueue, save_versions

__all__ = ["SharedWriteQueue", "SharedWriter", "shared_writer_count"]

_ROUND_LIMIT = 2_000
"""Versions written in one group transaction at most (all states together)."""

_registry_lock = threading.Lock()
_writers: dict[tuple[int, int], SharedWriter] = {}


def shared_writer_count() -> int:
    """Return how many shared writer threads are running in this process."""
    with _registry_lock:
        return len(_writers)


class SharedWriter:
    """The thread writing the queues of every asynchronous store on one backend.

    Obtain it through :class:`SharedWriteQueue`; never construct it directly.
    """

    def __init__(self, backend: StorageBackend, logger: logging.Logger) -> None:
        self._backend = backend
        self._log = logger
        self._cond = threading.Condition()
        self._queues: set[SharedWriteQueue] = set()
        # Only queues that signalled work are looked at (an ordered set, so
        # the oldest signal goes first and no queue starves): 10,000 idle
        # stores cost nothing per round. Backing-off queues wait in _delayed.
        self._ready: dict[SharedWriteQueue, None] = {}
        self._delayed: dict[SharedWriteQueue, float] = {}
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"agui-state-writer[{backend.backend_type}]", daemon=True
        )
        self._thread.start()

    # ----------------------------------------------------------- registry
    @staticmethod
    def _key(backend: StorageBackend) -> tuple[int, int]:
        # The pid: a forked child has no writer thread, whatever it inherited.
        return os.getpid(), id(backend)

    @classmethod
    def attach(cls, queue: SharedWriteQueue, backend: StorageBackend) -> SharedWriter:
        """Add ``queue`` to the backend's writer, starting it if needed."""
        key = cls._key(backend)
        with _registry_lock:
            writer = _writers.get(key)
            if writer is None or writer._backend is not backend:
                writer = cls(backend, queue._log)
                _writers[key] = writer
            with writer._cond:
                writer._queues.add(queue)
        return writer

    def detach(self, queue: SharedWriteQueue, deadline: float) -> None:
        """Remove ``queue``; the last one stops the thread (idempotent)."""
        key = self._key(self._backend)
        with _registry_lock:
            with self._cond:
                self._queues.discard(queue)
                self._ready.pop(queue, None)
                self._delayed.pop(queue, None)
                last = not self._queues
                if last:
                    self._stopped = True
                    self._cond.notify_all()
            if last and _writers.get(key) is self:
                del _writers[key]
        if last and threading.current_thread() is not self._thread:
            self._thread.join(max(0.1, deadline - time.monotonic()))

    @property
    def alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread.is_alive()

    def wake(self, queue: SharedWriteQueue) -> None:
        """``queue`` has work (a new version, a flush): look at it next round."""
        with self._cond:
            if queue in self._queues:
                self._ready[queue] = None
                self._cond.notify_all()

    # ----------------------------------------------------------- the thread
    def _next_candidates(self) -> list[SharedWriteQueue] | None:
        """Wait for queues with work (or due retries); ``None`` when stopped."""
        with self._cond:
            while True:
                if self._stopped:
                    return None
                now = time.monotonic()
                for queue in [q for q, at in self._delayed.items() if at <= now]:
                    del self._delayed[queue]
                    self._ready[queue] = None
                if self._ready:
                    candidates = list(self._ready)
                    self._ready.clear()
                    return candidates
                wait = min(self._delayed.values()) - now if self._delayed else None
                self._cond.wait(wait)

    def _run(self) -> None:
        while (candidates := self._next_candidates()) is not None:
            now = time.monotonic()
            round_: list[tuple[SharedWriteQueue, list[StateVersion]]] = []
            later: list[SharedWriteQueue] = []
            delayed: dict[SharedWriteQueue, float] = {}
            taken = 0
            for queue in candidates:
                if taken >= _ROUND_LIMIT:
                    later.append(queue)  # more work than one round: next round
                    continue
                batch, retry_in = queue._take(now)
                if retry_in is not None:
                    delayed[queue] = now + retry_in
                elif batch:
                    round_.append((queue, batch))
                    taken += len(batch)
            if round_:
                self._write_round(round_)
            # Queues with versions left (a long queue, a failed batch) go
            # round again; a failed one then moves to _delayed via _take.
            later += [queue for queue, _ in round_ if queue._has_work()]
            with self._cond:
                for queue in later:
                    if queue in self._queues:
                        self._ready[queue] = None
                for queue, at in delayed.items():
                    if queue in self._queues and queue not in self._ready:
                        self._delayed[queue] = at

    def _write_round(self, round_: list[tuple[SharedWriteQueue, list[StateVersion]]]) -> None:
        if len(round_) > 1:
            try:
                save_versions(
                    self._backend,
                    ((queue._state_id, version) for queue, batch in round_ for version in batch),
                )
            except Exception:  # noqa: S110 - each state is retried alone below
                pass
            else:
                for queue, batch in round_:
                    queue._succeeded(batch)
                return
        # One state, or the group failed: write each on its own, so an error
        # belongs to the state that caused it.
        for queue, batch in round_:
            queue._attempt(batch)


class SharedWriteQueue(WriteBehindQueue):
    """A store's write-behind queue, written by its backend's shared thread.

    Same arguments and guarantees as
    :class:`~agui_state.persistent.writer.WriteBehindQueue`: nothing is
    dropped, a full queue is reported before memory changes, ``close``
    drains, failures are retried ``max_retries`` times with exponential
    backoff, then reported (to this store only) and retried forever with a
    backoff capped at ``max_backoff``.
    """

    def _start_writer(self) -> None:
        self._attempts = 0  # failed attempts of the current batch
        self._cycles = 0  # reported failure cycles since the last success
        self._retry_at = 0.0  # monotonic time before which the batch waits
        self._detached = False
        self._writer = SharedWriter.attach(self, self._backend)
        if self._pending:
            self._writer.wake(self)

    def _wake_writer(self, kick: bool) -> None:
        if kick:
            self._kicked = True
            self._retry_at = 0.0
        self._writer.wake(self)

    def _stop_writer(self, deadline: float) -> None:
        with self._cond:
            if self._detached:
                return
            self._detached = True
        self._writer.detach(self, deadline)

    def _writer_alive(self) -> bool:
        return self._writer.alive and not self._detached

    # --------------------------------------------------- called by the thread
    def _has_work(self) -> bool:
        with self._cond:
            return bool(self._pending) and not self._stopped

    def _take(self, now: float) -> tuple[list[StateVersion], float | None]:
        """Return (the batch to write now, seconds until a backed-off retry)."""
        with self._cond:
            if self._stopped or not self._pending:
                return [], None
            if self._retry_at > now and not self._kicked:
                return [], self._retry_at - now
            self._kicked = False
            return list(islice(self._pending, self._batch_size)), None

    def _succeeded(self, batch: list[StateVersion]) -> None:
        self._attempts = 0
        self._cycles = 0
        self._retry_at = 0.0
        if batch:
            self._settle(batch)

    def _attempt(self, batch: list[StateVersion]) -> None:
        """Write ``batch`` alone once; on failure count it and schedule a retry."""
        error = self._write_once(batch)
        if error is None:
            self._succeeded(batch)
            return
        if isinstance(error, ConflictError):
            # It may be stored already (a lost acknowledgement, or the group
            # commit went through on a backend without cross-state atomicity).
            if self._settle_already_stored(batch):
                self._succeeded([])
                return
            self._fail(error, len(batch), final=True)  # retrying cannot help: report now
            return
        self._fail(error, len(batch), final=self._attempts >= self._max_retries)

    def _fail(self, error: Exception, size: int, *, final: bool) -> None:
        now = time.monotonic()
        if not final:
            self._retry_at = now + self._retry_backoff * 2**self._attempts
            self._attempts += 1
            return
        self._attempts = 0
        self._cycles += 1
        self._report(error, size)
        delay = min(self._max_backoff, self._retry_backoff * 2 ** min(self._cycles, 30))
        self._retry_at = now + delay

    def discard(self) -> list[StateVersion]:
        """Drop every pending version (see the base class); the next ones start afresh."""
        dropped = super().discard()
        with self._cond:
            self._attempts = 0
            self._cycles = 0
            self._retry_at = 0.0
        return dropped

    def stats(self) -> dict[str, Any]:
        """Return queue figures (no secrets); ``shared_writer`` is always true here."""
        figures = super().stats()
        figures["shared_writer"] = True
        return figures
