"""A :class:`~agui_state.store.StateStore` whose every change is persisted.

:class:`PersistentStateStore` keeps the in-memory store (fast reads,
subscriptions, transactions) and writes each committed version to a storage
backend through the store's ``on_version`` hook, which runs *after* the new
state is computed and *before* it is published:

* **synchronous** (default): the hook calls ``backend.save_version``; the
  version is durable when the write returns. If the backend fails or another
  process wrote first (:class:`~agui_state.errors.ConflictError`), the write
  is aborted and memory is unchanged, so memory and storage never diverge.
  After a conflict, :meth:`PersistentStateStore.refresh` reloads from storage.
* **asynchronous**: the hook puts the version on a bounded write-behind queue
  (:mod:`agui_state._writer`); a background thread writes queued versions in
  group commits, retries failures and never drops a version.
  :meth:`~PersistentStateStore.flush` waits until everything is durable and
  :meth:`~PersistentStateStore.close` drains the queue.

Every write path goes through that hook: ``set``, ``delete``,
``apply_patch``, transaction commits, ``restore_snapshot`` and
``restore_persistent_snapshot``. Snapshots go through ``on_snapshot`` and are
always written synchronously. On open, the state, its recent history and its
snapshots are loaded back from the backend.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from agui_state._persistent_tx import PersistentTransaction
from agui_state._writer import WriteBehindQueue, check_queue_options
from agui_state.backends import create_backend
from agui_state.backends.base import StorageBackend, Write
from agui_state.config import StorageConfig
from agui_state.errors import (
    ConflictError,
    CorruptDataError,
    NotFoundError,
    StateError,
    StorageError,
)
from agui_state.models import JSONValue, State, StateSnapshot, StateVersion
from agui_state.store import StateChange, StateStore, StoreOptions

if TYPE_CHECKING:
    from agui_state.migration import ImportReport

__all__ = ["PersistentStateStore", "PersistentTransaction"]

_LOGGER_NAME = "agui_state.persistent"
_DEFAULT_CLOSE_TIMEOUT = 30.0

ErrorHandler = Callable[[Exception], None]


class PersistentStateStore:
    """A state store persisted in a storage backend.

    Args:
        config_or_url: A backend URL (``file:///var/lib/agui``), a
            :class:`~agui_state.config.StorageConfig`, or a backend instance.
            URLs and configurations create a backend that this store owns and
            closes on :meth:`close`; a backend instance is left open.
        state_id: The state (AG-UI thread) this store holds.
        synchronous: Persist each write before it returns (``True``) or in
            the background (``False``).
        logger: Logger; defaults to ``logging.getLogger("agui_state.persistent")``.
        options: In-memory store options; by default its checkpoint interval
            is the backend configuration's ``checkpoint_interval``.
        queue_size: Asynchronous mode: versions that may wait to be written.
        queue_full_policy: Asynchronous mode: ``"block"`` waits for room,
            ``"raise"`` raises :class:`~agui_state.errors.QueueFullError`
            before memory changes.
        batch_size: Asynchronous mode: versions per group commit.
        max_retries: Asynchronous mode: immediate retries of a failed write
            before it is reported (default: the configuration's ``max_retries``).
        retry_backoff: First retry delay in seconds (doubles per retry).

    Raises:
        ConfigError: An argument or the configuration is invalid.
        StorageError: The backend cannot be opened or read.
    """

    def __init__(
        self,
        config_or_url: StorageConfig | str | StorageBackend,
        state_id: str = "default",
        *,
        synchronous: bool = True,
        logger: logging.Logger | None = None,
        options: StoreOptions | None = None,
        queue_size: int = 10_000,
        queue_full_policy: Literal["block", "raise"] = "block",
        batch_size: int = 500,
        max_retries: int | None = None,
        retry_backoff: float = 0.05,
    ) -> None:
        check_queue_options(queue_size, queue_full_policy, batch_size, max_retries, retry_backoff)
        if isinstance(config_or_url, StorageBackend):
            backend, self._owns_backend = config_or_url, False
        else:
            backend, self._owns_backend = create_backend(config_or_url), True
        self._backend = backend
        config = backend.config
        retries = config.max_retries if max_retries is None else max_retries
        self._log = logger or logging.getLogger(_LOGGER_NAME)
        self._synchronous = bool(synchronous)
        self._options = options or StoreOptions(checkpoint_interval=config.checkpoint_interval)
        # Serializes writes with refresh/import, so a reload can never
        # interleave with a write that is being persisted. Order: this lock,
        # then the store's write lock, then the queue's condition.
        self._lock = threading.RLock()
        self._stats_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._closed = False
        self._persisted: int | None = None
        self._write_errors = 0
        self._conflicts = 0
        self._last_error: str | None = None
        self._versions_written = 0
        self._batches_written = 0
        # A box, not a bound method, so the writer thread keeps no reference
        # to this object (the finalizer below must be able to run).
        self._handler_box: list[ErrorHandler | None] = [None]
        self._queue: WriteBehindQueue | None = None
        try:
            self._store = StateStore(
                state_id,
                options=self._options,
                logger=logger,
                on_version=self._on_version,
                on_snapshot=self._on_snapshot,
            )
            self._load()
        except BaseException:
            if self._owns_backend:
                backend.close()
            raise
        if not self._synchronous:
            box = self._handler_box

            def report(exc: Exception) -> None:
                handler = box[0]
                if handler is not None:
                    handler(exc)

            self._queue = WriteBehindQueue(
                backend,
                self._store.state_id,
                capacity=queue_size,
                policy=queue_full_policy,
                batch_size=batch_size,
                max_retries=retries,
                retry_backoff=float(retry_backoff),
                on_error=report,
                logger=self._log,
            )
            self._queue.set_persisted_version(self._persisted)
        # Last resort if the owner forgets close(): drain at garbage
        # collection or interpreter exit rather than lose queued versions.
        self._finalizer = weakref.finalize(
            self,
            _finalize,
            self._queue,
            backend if self._owns_backend else None,
            self._log,
            self._store.state_id,
        )
        self._log.info(
            "opened state %r at version %d on %s (%s)",
            self._store.state_id,
            self._store.version,
            config.redacted_url or backend.backend_type,
            "synchronous" if self._synchronous else "asynchronous",
        )

    # ------------------------------------------------------------ properties
    @property
    def state_id(self) -> str:
        """The state this store holds."""
        return self._store.state_id

    @property
    def version(self) -> int:
        """The current (in-memory) version number."""
        return self._store.version

    @property
    def backend(self) -> StorageBackend:
        """The storage backend."""
        return self._backend

    @property
    def store(self) -> StateStore:
        """The in-memory store underneath (writes through it are persisted too)."""
        return self._store

    @property
    def synchronous(self) -> bool:
        """Whether writes are durable when they return."""
        return self._synchronous

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # ------------------------------------------------------------ hooks
    def _on_version(self, version: StateVersion) -> None:
        """Persist ``version``; raising aborts the write (memory unchanged)."""
        if self._closed:
            raise StorageError(
                f"persistent store of state {self.state_id!r} is closed; write rejected"
            )
        if self._queue is not None:
            self._queue.put(version)
            return
        try:
            self._backend.save_version(self.state_id, version)
        except Exception as exc:
            if not self._stored_already(version):
                self._record_error(exc)
                # A lost race is an expected outcome the caller handles (refresh
                # and retry); only real storage failures deserve a warning.
                level = logging.DEBUG if isinstance(exc, ConflictError) else logging.WARNING
                self._log.log(
                    level,
                    "state %r: version %d not persisted, write aborted: %s",
                    self.state_id,
                    version.number,
                    exc,
                )
                if isinstance(exc, StateError):
                    raise
                raise StorageError(f"unexpected {type(exc).__name__} while saving: {exc}") from exc
        with self._stats_lock:
            self._persisted = version.number
            self._versions_written += 1
            self._batches_written += 1

    def _stored_already(self, version: StateVersion) -> bool:
        """Whether the backend holds ``version`` already (a lost acknowledgement)."""
        try:
            return self._backend.get_version(self.state_id, version.number).id == version.id
        except StateError:
            return False

    def _on_snapshot(self, snapshot: StateSnapshot) -> None:
        """Save ``snapshot`` (after the versions it shows are durable)."""
        if self._closed:
            raise StorageError(f"persistent store of state {self.state_id!r} is closed")
        if self._queue is not None:
            # Under the store's write lock no new version can arrive; the
            # writer thread needs no store lock, so this cannot deadlock.
            self._queue.flush()
        writes = []
        if snapshot.version == 0 and not self._backend.exists(self.state_id):
            # A snapshot of the empty start needs the state to exist.
            writes.append(Write.of_state(self.state_id, {}, expected_version=0))
        writes.append(Write.of_snapshot(self.state_id, snapshot))
        try:
            self._backend.write_batch(writes)
        except StateError as exc:
            self._record_error(exc)
            raise

    def _record_error(self, exc: BaseException) -> None:
        with self._stats_lock:
            if isinstance(exc, ConflictError):
                # Lost races are counted apart: they are not storage failures.
                self._conflicts += 1
            else:
                self._write_errors += 1
            self._last_error = str(exc)

    # ------------------------------------------------------------ loading
    def _load(self) -> None:
        """Replace memory with the state, recent history and snapshots in the backend."""
        backend, sid = self._backend, self._store.state_id
        try:
            head = backend.head_version(sid)
        except NotFoundError:
            self._store.load_history(0, {}, [])
            self._persisted = 0
            return
        window = self._options.max_history
        after = 0 if window is None else max(head - window, 0)
        versions = backend.get_versions(sid, after=after)
        if versions:
            base = versions[0].number - 1
            try:
                base_state = backend.state_at(sid, base)
            except NotFoundError:
                # Pruned history: the state before the oldest kept version is
                # gone, but that version carries its own full state.
                first = versions[0]
                if first.checkpoint is None:
                    raise CorruptDataError(
                        f"state {sid!r} version {first.number}",
                        "oldest kept version has no checkpoint and its base was pruned",
                    ) from None
                base, base_state, versions = first.number, first.checkpoint, versions[1:]
        else:
            base, base_state = head, backend.get_state(sid)
        snapshots = backend.list_snapshots(sid)
        # Links the next version's parent_id to the stored head.
        head_id = versions[-1].id if versions else self._head_id(head)
        self._store.load_history(base, base_state, versions, snapshots, head_id=head_id)
        if versions:
            # The backend's current state is the truth. A set_state repair at
            # the head changes it without a version, so the replayed history
            # can disagree: then start from the stored state, without the
            # in-memory window (history stays readable from the backend).
            current = backend.get_state(sid)
            if self._store.get_state() != current:
                self._log.info(
                    "state %r was set directly at version %d; history kept in the backend only",
                    sid,
                    head,
                )
                self._store.load_history(head, current, [], snapshots, head_id=head_id)
        with self._stats_lock:
            self._persisted = self._store.version
        if self._queue is not None:
            self._queue.set_persisted_version(self._store.version)

    def _head_id(self, head: int) -> str | None:
        """Id of the stored head version (None: no versions, or pruned)."""
        if head == 0:
            return None
        try:
            return self._backend.get_version(self._store.state_id, head).id
        except NotFoundError:
            return None

    def refresh(self, *, discard_pending: bool = False) -> None:
        """Reload state, history and snapshots from the backend.

        Use it after a :class:`~agui_state.errors.ConflictError` (another
        process wrote this state). In asynchronous mode pending versions are
        flushed first; if they cannot be written (they conflict),
        ``discard_pending=True`` drops them so the reload can proceed.

        Raises:
            StorageError: The backend failed, or pending versions could not
                be flushed.
        """
        with self._lock:
            if self._queue is not None:
                if discard_pending:
                    self._queue.discard()
                else:
                    self._queue.flush()
            self._load()

    # ------------------------------------------------------------ reads (memory)
    def get(self, path: str = "") -> JSONValue:
        """Return the value at ``path`` (see :meth:`StateStore.get`)."""
        return self._store.get(path)

    def get_state(self) -> State:
        """Return the whole current state."""
        return self._store.get_state()

    def get_version(self, number_or_id: int | str) -> StateVersion:
        """Return a version kept in memory, by number or id."""
        return self._store.get_version(number_or_id)

    def history(self, limit: int = 50, before: int | None = None) -> list[StateVersion]:
        """Return versions kept in memory, newest first."""
        return self._store.history(limit=limit, before=before)

    def state_at(self, version: int) -> State:
        """Return the state as it was at ``version`` (from memory)."""
        return self._store.state_at(version)

    def snapshots(self) -> list[StateSnapshot]:
        """Return the snapshots known in memory."""
        return self._store.snapshots()

    def get_snapshot(self, snapshot_id: str) -> StateSnapshot:
        """Return one snapshot known in memory."""
        return self._store.get_snapshot(snapshot_id)

    def subscribe(self, path: str, callback: Callable[[StateChange], None]) -> Callable[[], None]:
        """Call ``callback`` on changes under ``path``; returns the unsubscribe function."""
        return self._store.subscribe(path, callback)

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Set the handler of subscriber errors and background write errors."""
        self._handler_box[0] = handler
        self._store.set_error_handler(handler)

    # ------------------------------------------------------------ writes
    def set(
        self, path: str, value: JSONValue, *, metadata: dict[str, Any] | None = None
    ) -> StateVersion:
        """Set ``value`` at ``path`` and persist the new version."""
        with self._lock:
            return self._store.set(path, value, metadata=metadata)

    def delete(self, path: str, *, metadata: dict[str, Any] | None = None) -> StateVersion:
        """Delete the value at ``path`` and persist the new version."""
        with self._lock:
            return self._store.delete(path, metadata=metadata)

    def apply_patch(
        self, patch: list[dict[str, Any]], metadata: dict[str, Any] | None = None
    ) -> StateVersion:
        """Apply a JSON Patch atomically and persist the new version."""
        with self._lock:
            return self._store.apply_patch(patch, metadata)

    def restore_snapshot(
        self, snapshot_or_id: StateSnapshot | str, *, metadata: dict[str, Any] | None = None
    ) -> StateVersion:
        """Restore a snapshot as a new, persisted version."""
        with self._lock:
            return self._store.restore_snapshot(snapshot_or_id, metadata=metadata)

    def create_snapshot(
        self, label: str | None = None, metadata: dict[str, Any] | None = None
    ) -> StateSnapshot:
        """Take a snapshot, saved to the backend too (:meth:`create_persistent_snapshot`)."""
        return self.create_persistent_snapshot(label, metadata)

    def transaction(self) -> PersistentTransaction:
        """Start a transaction; its commit persists one version."""
        return PersistentTransaction(self)

    def begin_persistent_transaction(self) -> PersistentTransaction:
        """Start a transaction; its commit persists one version (original API name)."""
        return PersistentTransaction(self)

    # ------------------------------------------------------------ persistence API
    def create_persistent_snapshot(
        self, label: str | None = None, metadata: dict[str, Any] | None = None
    ) -> StateSnapshot:
        """Take a snapshot of the current state and save it to the backend.

        In asynchronous mode the pending versions are flushed first, so the
        version the snapshot shows exists in storage.

        Raises:
            StorageError: The snapshot (or the versions before it) could not
                be saved; memory keeps no snapshot then.
        """
        self.flush()
        with self._lock:
            return self._store.create_snapshot(label, metadata)

    def get_persistent_snapshots(self, state_id: str | None = None) -> list[StateSnapshot]:
        """Return the snapshots stored in the backend (this state by default)."""
        return self._backend.list_snapshots(state_id if state_id is not None else self.state_id)

    def restore_persistent_snapshot(
        self, snapshot_id: str, *, metadata: dict[str, Any] | None = None
    ) -> StateVersion:
        """Load a snapshot from the backend and restore it as a new version.

        Raises:
            NotFoundError: The backend has no such snapshot for this state.
        """
        snapshot = self._backend.get_snapshot(self.state_id, snapshot_id)
        with self._lock:
            return self._store.restore_snapshot(snapshot, metadata=metadata)

    def get_persistent_history(
        self, limit: int = 50, before: int | None = None
    ) -> list[StateVersion]:
        """Return versions stored in the backend, newest first (after a flush)."""
        self.flush()
        try:
            return self._backend.get_version_history(self.state_id, limit=limit, before=before)
        except NotFoundError:
            return []

    def prune_history(self, keep_last: int) -> int:
        """Delete all but the newest ``keep_last`` stored versions (after a flush).

        Returns:
            How many versions were deleted from the backend.
        """
        self.flush()
        try:
            return self._backend.prune_history(self.state_id, keep_last)
        except NotFoundError:
            return 0

    def pending_versions(self) -> list[StateVersion]:
        """Return the versions not yet durable (asynchronous mode), oldest first."""
        return self._queue.pending() if self._queue is not None else []

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every version written so far is durable.

        A no-op in synchronous mode. See :meth:`agui_state._writer.WriteBehindQueue.flush`.

        Raises:
            StorageError: The versions could not be written (the last error).
            ConflictError: Another process wrote this state first.
            BackendTimeoutError: ``timeout`` passed while the backend was slow.
        """
        if self._queue is not None:
            self._queue.flush(timeout)

    def ping(self) -> None:
        """Check the backend with a real round trip.

        Raises:
            BackendUnavailableError: It cannot be reached.
        """
        self._backend.ping()

    def stats(self) -> dict[str, Any]:
        """Return figures about the store, its queue and its backend (no secrets)."""
        with self._stats_lock:
            out: dict[str, Any] = {
                "backend_type": self._backend.backend_type,
                "url": self._backend.config.redacted_url,
                "state_id": self.state_id,
                "memory_version": self._store.version,
                "persisted_version": self._persisted,
                "synchronous": self._synchronous,
                "sync_queue_size": 0,
                "queue_capacity": 0,
                "queue_full_policy": None,
                "write_errors": self._write_errors,
                "conflicts": self._conflicts,
                "last_error": self._last_error,
                "batches_written": self._batches_written,
                "versions_written": self._versions_written,
                "closed": self._closed,
            }
        if self._queue is not None:
            q = self._queue.stats()
            out.update(q)
            out["write_errors"] += self._write_errors
            out["last_error"] = q["last_error"] or self._last_error
            if q["persisted_version"] is None:
                out["persisted_version"] = self._persisted
        try:
            out["backend"] = self._backend.stats()
        except StateError as exc:
            out["backend"] = {"backend_type": self._backend.backend_type, "error": str(exc)}
        return out

    def export_data(self, state_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Export states of this store's backend (all states by default), after a flush.

        See :func:`agui_state.migration.export_data` for the format.
        """
        from agui_state.migration import export_data

        self.flush()
        return export_data(self._backend, state_ids)

    def import_data(self, dump: Any, *, overwrite: bool = False) -> ImportReport:
        """Import a dump into this store's backend, then reload if this state was in it.

        See :func:`agui_state.migration.import_data`.
        """
        from agui_state.migration import import_data

        with self._lock:
            self.flush()
            report = import_data(self._backend, dump, overwrite=overwrite)
            if self.state_id in report.imported:
                self._load()
        return report

    # ------------------------------------------------------------ lifecycle
    def close(self, timeout: float = _DEFAULT_CLOSE_TIMEOUT) -> None:
        """Drain pending writes, stop the writer and close an owned backend. Idempotent.

        Args:
            timeout: Seconds to keep trying to deliver pending versions.

        Raises:
            StorageError: Versions could not be delivered; the message says
                how many, and :meth:`pending_versions` still returns them.
        """
        # Not self._lock: a writer blocked on a full queue holds it, and
        # closing the queue is what wakes that writer up.
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._finalizer.detach()
        error: BaseException | None = None
        if self._queue is not None:
            try:
                self._queue.close(timeout)
            except StorageError as exc:
                error = exc
                self._log.error("state %r: %s", self.state_id, exc)
        if self._owns_backend:
            try:
                self._backend.close()
            except StateError as exc:
                error = error or exc
        if error is not None:
            raise error

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "sync" if self._synchronous else "async"
        return (
            f"PersistentStateStore(state_id={self.state_id!r}, version={self.version}, "
            f"backend={self._backend!r}, mode={mode})"
        )


def _finalize(
    queue: WriteBehindQueue | None,
    backend: StorageBackend | None,
    log: logging.Logger,
    state_id: str,
) -> None:
    """Drain and close what an unclosed store left behind (GC or interpreter exit)."""
    try:
        if queue is not None:
            queue.close(_DEFAULT_CLOSE_TIMEOUT)
    except StorageError as exc:
        log.error("state %r was not closed and could not be drained: %s", state_id, exc)
    finally:
        if backend is not None:
            try:
                backend.close()
            except StateError:
                log.exception("closing the backend of state %r failed", state_id)
