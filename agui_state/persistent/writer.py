"""The write-behind queue of an asynchronous :class:`~agui_state.persistent.PersistentStateStore`.

A :class:`WriteBehindQueue` holds the versions of one state that are committed
in memory but not yet durable, and one background thread that writes them.

Guarantees (each one is a fault of the original design we do not repeat):

* **Nothing is dropped.** A version leaves the queue only once the backend
  has acknowledged it. A failed write is retried ``max_retries`` times with
  exponential backoff, then reported (error handler, logger, stats) and kept:
  the writer tries again with a backoff capped at ``max_backoff`` seconds,
  forever, until it succeeds or the queue is closed.
* **Full is reported before memory changes.** :meth:`WriteBehindQueue.put` is
  called from the store's ``on_version`` hook, which runs before the new
  state is published: with the ``"raise"`` policy a full queue raises
  :class:`~agui_state.errors.QueueFullError` and the write is aborted; with
  ``"block"`` the caller waits for room.
* **Group commit.** The writer takes up to ``batch_size`` queued versions and
  writes them in one backend transaction, so a burst of small updates costs
  one round trip (one fsync, one SQL COMMIT) instead of one per version.
* **Close drains.** :meth:`WriteBehindQueue.close` waits until the queue is
  empty; if it cannot (backend down) it raises a
  :class:`~agui_state.errors.StorageError` saying how many versions are
  undelivered, and they stay readable via :meth:`WriteBehindQueue.pending`.

Every wait uses one :class:`threading.Condition` (no polling loops).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Literal

from agui_state.backends.base import StorageBackend
from agui_state.errors import (
    BackendTimeoutError,
    ConfigError,
    ConflictError,
    QueueFullError,
    StateError,
    StorageError,
)
from agui_state.models import StateVersion

__all__ = ["QueuePolicy", "WriteBehindQueue", "check_queue_options", "save_versions"]

QueuePolicy = Literal["block", "raise"]
"""What :meth:`WriteBehindQueue.put` does when the queue is full."""

ErrorHandler = Callable[[Exception], None]


def check_queue_options(
    capacity: Any, policy: Any, batch_size: Any, max_retries: Any, retry_backoff: Any
) -> None:
    """Validate queue arguments (``max_retries`` may be None: the config's default).

    Raises:
        ConfigError: Naming the argument at fault.
    """
    for name, value, minimum in (
        ("queue_size", capacity, 1),
        ("batch_size", batch_size, 1),
        ("max_retries", 0 if max_retries is None else max_retries, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(name, f"must be an integer >= {minimum}, got {value!r}")
    if policy not in ("block", "raise"):
        raise ConfigError("queue_full_policy", f"must be 'block' or 'raise', got {policy!r}")
    if isinstance(retry_backoff, bool) or not isinstance(retry_backoff, (int, float)):
        raise ConfigError("retry_backoff", f"must be a number, got {retry_backoff!r}")
    if not 0 <= retry_backoff < float("inf"):
        raise ConfigError("retry_backoff", f"must be >= 0 seconds, got {retry_backoff!r}")


def save_versions(backend: StorageBackend, versions: Iterable[tuple[str, StateVersion]]) -> None:
    """Save ``(state_id, version)`` pairs in one backend transaction: all or none.

    Whatever the backend raises propagates, after the transaction is rolled back.
    """
    tx = backend.begin_transaction()
    try:
        for state_id, version in versions:
            tx.save_version(state_id, version)
    except BaseException:
        tx.rollback()
        raise
    tx.commit()


class WriteBehindQueue:
    """A bounded queue of versions of one state plus the thread that persists them.

    Args:
        backend: Where versions are written.
        state_id: The state whose versions are queued (all of them consecutive).
        capacity: Maximum number of versions waiting to be written.
        policy: ``"block"`` (wait for room) or ``"raise"`` (``QueueFullError``).
        batch_size: Maximum versions written in one backend transaction.
        max_retries: Immediate retries of a failed batch before it is reported.
        retry_backoff: First retry delay in seconds; doubles on every retry.
        max_backoff: Cap of the delay between retry cycles once a failure has
            been reported.
        on_error: Called (from the writer thread) with each reported error.
        logger: Where failures and recoveries are logged.
    """

    def __init__(
        self,
        backend: StorageBackend,
        state_id: str,
        *,
        capacity: int = 10_000,
        policy: QueuePolicy = "block",
        batch_size: int = 500,
        max_retries: int = 3,
        retry_backoff: float = 0.05,
        max_backoff: float = 5.0,
        on_error: ErrorHandler | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._backend = backend
        self._state_id = state_id
        self._capacity = capacity
        self._policy: QueuePolicy = policy
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff
        self._max_backoff = max_backoff
        self._on_error = on_error
        self._log = logger or logging.getLogger("agui_state.persistent")

        self._cond = threading.Condition()
        self._pending: deque[StateVersion] = deque()
        # Monotonic counters: flush waits until `_written` reaches the value
        # `_enqueued` had when it was called, whatever happens meanwhile.
        self._enqueued = 0
        self._written = 0
        # Bumped whenever a retry cycle fails, so flush can tell "a failure
        # happened while I was waiting" from an old one.
        self._failures = 0
        self._last_error: Exception | None = None
        self._failing = False  # a failure was reported and no write succeeded since
        self._write_errors = 0
        self._batches_written = 0
        self._versions_written = 0
        self._persisted_version: int | None = None
        self._kicked = False  # flush/close ask the writer to skip its backoff
        self._idle = False  # the writer waits for versions (only then does put() notify)
        self._closing = False
        self._stopped = False
        self._start_writer()

    # ---------------------------------------------------- writer-thread hooks
    # A subclass may hand the writing to a thread shared by many queues
    # (:mod:`agui_state.persistent.shared_writer`); these four are the only
    # places this class touches its own thread.
    def _start_writer(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"agui-state-writer[{self._state_id[:40]}]", daemon=True
        )
        self._thread.start()

    def _wake_writer(self, kick: bool) -> None:
        """Tell the writer there is work (``kick``: skip any backoff). Holds ``_cond``."""
        if kick:
            self._kicked = True
            self._cond.notify_all()
        elif self._idle:
            # Only the idle writer waits for new versions (flush, close and a
            # blocked put wait for progress): do not wake anyone else per write.
            self._cond.notify_all()

    def _stop_writer(self, deadline: float) -> None:
        # The writer may be inside a backend call; do not wait for it forever.
        self._thread.join(max(0.1, deadline - time.monotonic()))

    def _writer_alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------- producers
    def put(self, version: StateVersion) -> None:
        """Queue one version (called from the store's ``on_version`` hook).

        Raises:
            QueueFullError: The queue is full and the policy is ``"raise"``.
            StorageError: The queue is closed.
        """
        with self._cond:
            if self._closing:
                raise StorageError(
                    f"persistent store of state {self._state_id!r} is closed; write rejected"
                )
            while len(self._pending) >= self._capacity:
                if self._policy == "raise":
                    raise QueueFullError(self._capacity, self._state_id)
                self._cond.wait()
                if self._closing:
                    raise StorageError(
                        f"persistent store of state {self._state_id!r} closed while a write "
                        "waited for queue space; write rejected"
                    )
            self._pending.append(version)
            self._enqueued += 1
            self._wake_writer(kick=False)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every version queued before this call is durable.

        Args:
            timeout: Seconds to wait. ``None`` waits until the versions are
                durable or until the writer reports a failed retry cycle
                (all ``max_retries`` retries exhausted), whichever comes first.
                With a number, the writer keeps retrying until the deadline.

        Raises:
            StateError: The last write error (a ``StorageError`` or a
                ``ConflictError``), when the versions could not be written.
            BackendTimeoutError: The timeout passed without any write error
                (the backend is slow, not failing).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            failures_at_start = self._failures
            if self._written >= target:
                return
            self._wake_writer(kick=True)
            while self._written < target:
                if self._stopped:
                    break
                if timeout is None and self._failures > failures_at_start:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._written >= target:
                return
            undelivered = target - self._written
            error = self._last_error if self._failures > failures_at_start else None
        if error is not None:
            raise error
        if self._stopped:
            raise StorageError(
                f"writer of state {self._state_id!r} stopped with {undelivered} "
                "version(s) undelivered"
            )
        raise BackendTimeoutError(
            f"flush of state {self._state_id!r} timed out after {timeout}s with "
            f"{undelivered} version(s) not yet durable"
        )

    def close(self, timeout: float = 30.0) -> None:
        """Drain the queue, then stop the writer thread.

        Calling it again only re-reports versions that are still undelivered.

        Args:
            timeout: Seconds to keep trying to drain before giving up.

        Raises:
            StorageError: Versions remain undelivered (backend down); they
                stay available through :meth:`pending`.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._closing = True
            self._wake_writer(kick=True)
            while self._pending and not self._stopped and not self._hopeless():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._stopped = True
            undelivered = len(self._pending)
            error = self._last_error
            self._cond.notify_all()
        self._stop_writer(deadline)
        if undelivered:
            detail = f": last error: {error}" if error is not None else ""
            raise StorageError(
                f"closed with {undelivered} version(s) of state {self._state_id!r} "
                f"undelivered{detail}; read them with pending_versions()"
            ) from error

    def _hopeless(self) -> bool:
        """Whether the pending versions conflict with what is stored (the caller holds the lock).

        No retry can fix that (another writer, or a server that came back
        empty), so ``close`` reports it at once instead of retrying until
        its timeout.
        """
        return self._failing and isinstance(self._last_error, ConflictError)

    def discard(self) -> list[StateVersion]:
        """Drop every pending version and return them (used by ``refresh``)."""
        with self._cond:
            dropped = list(self._pending)
            self._pending.clear()
            # Count them as settled so a flush waiting on them returns.
            self._written += len(dropped)
            self._cond.notify_all()
        if dropped:
            self._log.warning(
                "state %r: discarded %d pending version(s) (%d..%d)",
                self._state_id,
                len(dropped),
                dropped[0].number,
                dropped[-1].number,
            )
        return dropped

    # ----------------------------------------------------------------- reads
    def pending(self) -> list[StateVersion]:
        """Return the versions not yet durable, oldest first."""
        with self._cond:
            return list(self._pending)

    def set_persisted_version(self, number: int | None) -> None:
        """Record the head known to be durable (after a load or refresh)."""
        with self._cond:
            self._persisted_version = number

    @property
    def persisted_version(self) -> int | None:
        """Number of the newest version known to be durable."""
        with self._cond:
            return self._persisted_version

    def stats(self) -> dict[str, Any]:
        """Return queue figures (no secrets)."""
        with self._cond:
            return {
                "sync_queue_size": len(self._pending),
                "queue_capacity": self._capacity,
                "queue_full_policy": self._policy,
                "write_errors": self._write_errors,
                "last_error": None if self._last_error is None else str(self._last_error),
                "batches_written": self._batches_written,
                "versions_written": self._versions_written,
                "persisted_version": self._persisted_version,
                "writer_alive": self._writer_alive(),
            }

    # ---------------------------------------------------------------- writer
    def _run(self) -> None:
        cycle_failures = 0
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                if self._stopped:
                    return
                batch = list(islice(self._pending, self._batch_size))
            error = self._write_with_retries(batch)
            if error is None:
                cycle_failures = 0
                continue
            cycle_failures += 1
            self._report(error, len(batch))
            # Keep the batch and try again later, backing off up to the cap.
            delay = min(self._max_backoff, self._retry_backoff * 2 ** min(cycle_failures, 30))
            self._pause(delay)

    def _write_with_retries(self, batch: list[StateVersion]) -> Exception | None:
        """Write ``batch`` with up to ``max_retries`` retries; return the last error."""
        error: Exception | None = None
        for attempt in range(self._max_retries + 1):
            if attempt and self._pause(self._retry_backoff * 2 ** (attempt - 1)):
                return error
            error = self._write_once(batch)
            if error is None:
                self._settle(batch)
                return None
            if isinstance(error, ConflictError):
                # The batch (or part of it) may already be stored: a previous
                # attempt committed but its acknowledgement was lost.
                try:
                    settled = self._settle_already_stored(batch)
                except StateError as read_exc:
                    # Cannot tell yet: our own lost write or someone else's.
                    # Not a conflict to report (close() gives up on those):
                    # a transient failure, retried like any other.
                    error = read_exc
                    continue
                if settled:
                    return None
                # Someone else wrote this state: retrying cannot help until
                # the store is refreshed, so report at once.
                return error
        return error

    def _write_once(self, batch: list[StateVersion]) -> Exception | None:
        """Write ``batch`` once: None when it is stored, else the error (a StateError)."""
        try:
            self._write(batch)
        except StateError as exc:
            return exc
        except Exception as exc:  # a backend broke its contract: still never drop
            error = StorageError(f"unexpected {type(exc).__name__} while writing: {exc}")
            error.__cause__ = exc
            return error
        return None

    def _write(self, batch: list[StateVersion]) -> None:
        save_versions(self._backend, ((self._state_id, version) for version in batch))

    def _settle(self, batch: list[StateVersion]) -> None:
        with self._cond:
            recovered, self._failing = self._failing, False
            self._written += self._drop_head(batch)
            self._batches_written += 1
            self._versions_written += len(batch)
            self._persisted_version = batch[-1].number
            self._cond.notify_all()
        if recovered:
            self._log.info(
                "state %r: writes recovered; version %d is durable",
                self._state_id,
                batch[-1].number,
            )

    def _drop_head(self, written: list[StateVersion]) -> int:
        """Remove ``written`` from the front of the queue; return how many were there.

        Checked by identity: :meth:`discard` may have emptied the queue while
        the batch was being written (and counted it as settled), and newer
        versions must not be popped. The caller holds the lock.
        """
        popped = 0
        for version in written:
            if self._pending and self._pending[0] is version:
                self._pending.popleft()
                popped += 1
        return popped

    def _settle_already_stored(self, batch: list[StateVersion]) -> bool:
        """Drop the leading versions of ``batch`` that the backend already holds.

        Returns:
            Whether any was (ids compared); False means another writer's.

        Raises:
            StateError: The backend could not be read (nothing is known yet).
        """
        stored = self._backend.get_versions(
            self._state_id, after=batch[0].number - 1, limit=len(batch)
        )
        done = 0
        for mine, theirs in zip(batch, stored, strict=False):
            if mine.number != theirs.number or mine.id != theirs.id:
                break
            done += 1
        if done == 0:
            return False
        with self._cond:
            self._written += self._drop_head(batch[:done])
            self._versions_written += done
            self._persisted_version = batch[done - 1].number
            self._cond.notify_all()
        return True

    def _report(self, error: Exception, size: int) -> None:
        with self._cond:
            self._write_errors += 1
            self._last_error = error
            self._failing = True
            pending = len(self._pending)
        self._log.error(
            "state %r: writing %d version(s) failed after %d retries (%d pending, kept "
            "for retry): %s",
            self._state_id,
            size,
            self._max_retries,
            pending,
            error,
        )
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:  # a broken handler must not kill the writer
                self._log.exception("state %r: error handler raised", self._state_id)
        # Only now wake flush(): when it raises, the handler has seen the error.
        with self._cond:
            self._failures += 1
            self._cond.notify_all()

    def _pause(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless kicked or stopped; return True if stopped."""
        deadline = time.monotonic() + delay
        with self._cond:
            while not self._kicked and not self._stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            self._kicked = False
            return self._stopped
