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
  A failed write is checked by its version id: if it is stored after all
  (the reply was lost), the call succeeds; if the backend cannot be asked,
  :class:`~agui_state.errors.WriteOutcomeUnknownError` says so and the next
  write asks again first, adopting the version if it is stored.
* **asynchronous**: the hook puts the version on a bounded write-behind queue
  (:mod:`agui_state.persistent.writer`); a background thread writes queued versions in
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
from typing import TYPE_CHECKING, Any, Literal

from agui_state import cards
from agui_state._context import CloseOnExit
from agui_state.backends.base import StorageBackend, Write, check_history_args
from agui_state.backends.shared import BackendLease, lease_backend
from agui_state.config import StorageConfig
from agui_state.errors import (
    ConfigError,
    NotFoundError,
    StateError,
    StorageError,
    WriteOutcomeUnknownError,
)
from agui_state.models import JSONValue, State, StateSnapshot, StateVersion
from agui_state.persistent.close import DEFAULT_CLOSE_TIMEOUT, finalize
from agui_state.persistent.load import load_from_backend
from agui_state.persistent.shared_writer import SharedWriteQueue
from agui_state.persistent.stats import WriteStats
from agui_state.persistent.transaction import PersistentTransaction
from agui_state.persistent.write import probe_stored, save_version
from agui_state.persistent.writer import WriteBehindQueue, check_queue_options
from agui_state.store.state_store import StateChange, StateStore, StoreOptions

if TYPE_CHECKING:
    from agui_state.migration.transfer import ImportReport

__all__ = ["PersistentStateStore", "PersistentTransaction"]

_LOGGER_NAME = "agui_state.persistent"

ErrorHandler = Callable[[Exception], None]


class PersistentStateStore(CloseOnExit):
    """A state store persisted in a storage backend.

    Args:
        config_or_url: A backend URL (``file:///var/lib/agui``), a
            :class:`~agui_state.config.StorageConfig`, or a backend instance.
            Stores opened from the same URL/configuration in one process
            share one backend (one engine and connection pool), closed by
            the last store's :meth:`close` (see
            :mod:`agui_state.backends.shared`; ``memory://`` stays private).
            A backend instance is used as given and left open.
        state_id: The state (AG-UI thread) this store holds.
        synchronous: Persist each write before it returns (``True``) or in
            the background (``False``; all asynchronous stores on one backend
            share one writer thread, :mod:`.shared_writer`).
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
        if not isinstance(synchronous, bool):
            raise ConfigError("synchronous", f"must be True or False, got {synchronous!r}")
        if logger is not None and not isinstance(logger, logging.Logger):
            raise ConfigError(
                "logger", f"must be a logging.Logger or None, got {type(logger).__name__}"
            )
        # A backend object is used as given and left open; a URL or
        # configuration leases the process's shared backend for it (one
        # engine/pool per configuration, closed by the last store).
        self._lease: BackendLease | None = None
        if isinstance(config_or_url, StorageBackend):
            backend, self._owns_backend = config_or_url, False
        else:
            self._lease = lease_backend(config_or_url)
            backend, self._owns_backend = self._lease.backend, True
        self._backend = backend
        config = backend.config
        retries = config.max_retries if max_retries is None else max_retries
        self._log = logger or logging.getLogger(_LOGGER_NAME)
        self._synchronous = bool(synchronous)
        self._options = options or StoreOptions(checkpoint_interval=config.checkpoint_interval)
        # Serializes writes with refresh/import, so a reload can never
        # interleave with a write that is being persisted. It is also the
        # inner store's write lock, so writes through `store` are serialized
        # the same way. Order: this lock, then the queue's condition.
        self._lock = threading.RLock()
        # A version whose synchronous write failed with an unknown outcome:
        # the next write asks the backend about it first (_before_write).
        self._unsettled: StateVersion | None = None
        self._close_lock = threading.Lock()
        self._closed = False
        self._stats = WriteStats()
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
                before_write=self._before_write,
                lock=self._lock,
                hook_reads_state=False,  # _on_version only writes the version out
            )
            self._load()
        except BaseException:
            if self._lease is not None:
                self._lease.close()
            raise
        if not self._synchronous:
            box = self._handler_box

            def report(exc: Exception) -> None:
                handler = box[0]
                if handler is not None:
                    handler(exc)

            self._queue = SharedWriteQueue(
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
            self._queue.set_persisted_version(self._stats.persisted)
        # Last resort if the owner forgets close(): drain at garbage
        # collection or interpreter exit rather than lose queued versions.
        self._finalizer = weakref.finalize(
            self,
            finalize,
            self._queue,
            self._lease,
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
            save_version(self._backend, self.state_id, version, self._stats, self._log)
        except WriteOutcomeUnknownError:
            self._unsettled = version
            raise

    def _before_write(self) -> None:
        """Settle a write whose outcome was unknown before writing again (under the lock).

        If the backend holds that version (same id at its number), memory
        adopts it by reloading; if not, nothing changes.

        Raises:
            WriteOutcomeUnknownError: The backend still cannot be asked; the
                new write is not attempted.
        """
        version = self._unsettled
        if version is None:
            return
        try:
            stored = probe_stored(self._backend, self.state_id, version)
        except StateError as exc:
            raise WriteOutcomeUnknownError(
                self.state_id,
                version.number,
                version.id,
                f"the backend still cannot be asked ({exc}); this write was not attempted",
            ) from exc
        if stored:
            self._log.info(
                "state %r: version %d was stored although its write failed; memory adopts it",
                self.state_id,
                version.number,
            )
            self._load()
        self._unsettled = None

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
            self._stats.record_error(exc)
            raise

    # ------------------------------------------------------------ loading
    def _load(self) -> None:
        """Replace memory with the state, recent history and snapshots in the backend."""
        found = load_from_backend(self._backend, self._store, self._options.max_history, self._log)
        # Whatever an unknown write became, memory now shows what is stored.
        self._unsettled = None
        if not found:
            self._stats.persisted = 0
            return
        self._stats.set_persisted(self._store.version)
        if self._queue is not None:
            self._queue.set_persisted_version(self._store.version)

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
        """Return versions kept in memory, newest first (:meth:`get_persistent_history`: stored)."""
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

    def subscribe(
        self, path: str, callback: Callable[[StateChange], None], *, every_version: bool = False
    ) -> Callable[[], None]:
        """Call ``callback`` on changes under ``path``; returns the unsubscribe function.

        See :meth:`StateStore.subscribe` (``every_version``: also versions
        that changed nothing).
        """
        return self._store.subscribe(path, callback, every_version=every_version)

    def subscribe_versions(self, callback: Callable[[StateVersion], None]) -> Callable[[], None]:
        """Call ``callback`` with every new version; see :meth:`StateStore.subscribe_versions`."""
        return self._store.subscribe_versions(callback)

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

    def transaction(self) -> PersistentTransaction:
        """Start a transaction; its commit persists one version."""
        return PersistentTransaction(self.store.transaction(), self._lock)

    def begin_persistent_transaction(self) -> PersistentTransaction:
        """Alias of :meth:`transaction` (the original design's name)."""
        return self.transaction()

    # ------------------------------------------------------------ persistence API
    def create_persistent_snapshot(
        self, label: str | None = None, metadata: dict[str, Any] | None = None
    ) -> StateSnapshot:
        """Alias of :meth:`create_snapshot` (the original design's name)."""
        return self.create_snapshot(label, metadata)

    def create_snapshot(
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
            self._before_write()
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
        """Return versions stored in the backend, newest first (after a flush).

        Raises:
            ValidationError: ``limit`` is not an integer >= 0 or ``before``
                not None or an integer >= 0 (checked before anything else).
        """
        check_history_args(limit, before)
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

        A no-op in synchronous mode. See :meth:`.writer.WriteBehindQueue.flush`.

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
        return self._stats.report(
            self._backend,
            self._queue,
            state_id=self.state_id,
            memory_version=self._store.version,
            synchronous=self._synchronous,
            closed=self._closed,
        )

    def export_data(self, state_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Export states of this store's backend (all states by default), after a flush.

        See :func:`agui_state.migration.export_data` for the format.
        """
        from agui_state.migration.transfer import export_data

        self.flush()
        return export_data(self._backend, state_ids)

    def import_data(self, dump: Any, *, overwrite: bool = False) -> ImportReport:
        """Import a dump into this store's backend, then reload if this state was in it.

        See :func:`agui_state.migration.import_data`.
        """
        from agui_state.migration.transfer import import_data

        with self._lock:
            self.flush()
            report = import_data(
                self._backend, dump, overwrite=overwrite, limits=self._options.limits
            )
            if self.state_id in report.imported:
                self._load()
        return report

    # ------------------------------------------------------------ lifecycle
    def close(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
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
        if self._lease is not None:
            try:
                self._lease.close()
            except StateError as exc:
                error = error or exc
        if error is not None:
            raise error

    def __repr__(self) -> str:
        mode = "sync" if self._synchronous else "async"
        return (
            f"PersistentStateStore(state_id={self.state_id!r}, version={self.version}, "
            f"backend={self._backend!r}, mode={mode})"
        )

    # ------------------------------------------------------------ notebook display
    def _repr_html_(self) -> str:
        """A card: state, version, last run/time/ops, backend (redacted), mode; state collapsed."""
        store = self._store
        try:
            last = store.get_version(store.version) if store.version else None
        except NotFoundError:
            last = None
        extra = [
            ("backend", self._backend.config.redacted_url or self._backend.backend_type),
            ("mode", "synchronous" if self._synchronous else "asynchronous"),
            ("pending", len(self.pending_versions())),
        ]
        return cards.store_card(
            "PersistentStateStore", self.state_id, store.version, store.get_state(), last, extra
        )
