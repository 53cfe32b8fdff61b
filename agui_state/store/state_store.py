"""The in-memory, thread-safe :class:`StateStore` (layer 3).

A store holds one state (a JSON object), its gap-free version history,
snapshots and path subscriptions. Every write (``set``, ``delete``,
``apply_patch``, a transaction commit, ``restore_snapshot``) publishes exactly
one :class:`~agui_state.models.StateVersion` carrying its RFC 6902 delta:

1. inputs are validated and copied *outside* the write lock;
2. under the lock, :func:`agui_state.patch.apply_patch` computes the new state
   without mutating the old one (untouched subtrees are shared), and limits
   are checked in O(delta), the size against a running estimate; when
   nothing but the store references a container on the path (no snapshot,
   checkpoint, delta, transaction, subscriber or reader shares it, which
   CPython's reference counts tell exactly) it is written in place instead
   of copied, so a write into a 100,000-element list does not copy the list,
   and undone if the write is abandoned;
3. the version goes to the ``on_version`` hook *before* anything is
   published: if it raises, nothing changes (how a persistent store keeps
   memory and storage from diverging);
4. state, head and history are published together, then subscribers are
   notified outside the lock, in version order (:mod:`agui_state.store.subscriptions`).

``(state, version)`` is one record swapped atomically. Reads of the current
state wait only for a write in progress that writes in place (a few
microseconds), under the store's document lock; a writer never waits for a
reader (while one holds that lock, the write path-copies). Everything handed out is a copy,
except the ``checkpoint`` of the version a write returns, which is the new
state itself (read-only; see :class:`StateStore`).

A write costs O(path depth + size of the values it touches), whatever the
size of the state: nothing on the write path walks, compares or copies the
containers around the change (see :mod:`agui_state.store.sizing`).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from agui_state import cards
from agui_state.errors import (
    ConfigError,
    ConflictError,
    InvalidPathError,
    NotFoundError,
    TransactionError,
    ValidationError,
)
from agui_state.ids import validate_state_id
from agui_state.models import State, StateSnapshot, StateVersion, make_version, new_id, utcnow
from agui_state.patch.apply import untraced
from agui_state.patch.pointer import find
from agui_state.store.apply import (
    Applied,
    apply_prepared,
    delete_ops,
    parse_path,
    prepare_patch,
    prepare_value,
    replace_with,
    set_ops,
)
from agui_state.store.cadence import Cadence
from agui_state.store.history import History
from agui_state.store.jsonutil import copy_json, export_snapshot, export_version, export_written
from agui_state.store.limits import StoreLimits, StoreOptions, check_metadata
from agui_state.store.loading import load
from agui_state.store.snapshots import SnapshotShelf, restore_source
from agui_state.store.subscriptions import ErrorHandler, Notifier, StateChange
from agui_state.store.transaction import StoreTransaction
from agui_state.store.versionid import new_version_id
from agui_state.store.versions import get_version, newest_versions, state_at

__all__ = ["StateChange", "StateStore", "StoreLimits", "StoreOptions", "StoreTransaction"]

_EMPTY_SIZE = 2  # len("{}")


class _Head(NamedTuple):
    """The published current state, swapped as a whole.

    Reads are consistent: a write either builds a new document or, when the
    store alone holds the current one, writes it in place under the
    document lock, which readers take.
    """

    state: State
    number: int
    version_id: str | None
    size: int  # running estimate of the compact JSON size
    epoch: int  # bumped by load_history, so older transactions conflict


def _head_refs() -> int:
    """The reference count of a document held by nothing but its ``_Head``, as ``_write`` sees it.

    Measured on this interpreter, not assumed (see :mod:`agui_state.patch.apply`).
    """
    head = _Head({}, 0, None, _EMPTY_SIZE, 0)
    return sys.getrefcount(head.state)


_HELD_BY_HEAD = untraced(_head_refs)


class StateStore:
    """An in-memory, versioned, thread-safe JSON state.

    Args:
        state_id: Id of the state (AG-UI thread); any non-empty string of at
            most 1024 characters without NUL.
        options: History and limit options (default :class:`StoreOptions`).
        logger: Where callback errors are logged (default ``agui_state.store``).
        on_version: Persistence hook called with each new version under the
            write lock, before it is published; raising aborts the write. The
            version shares its delta and checkpoint with the store: treat it
            as read-only. The hook must not write to this store.
        on_snapshot: Same, for :meth:`create_snapshot`.
        hook_reads_state: Whether ``on_version`` may read this store's
            current state (:meth:`get`, :meth:`get_state`...), and so must
            see it as published before its version. ``False`` (the
            persistent store's hook only writes the version out) lets a
            write change the current document in place when nothing else
            shares it, so that a write into a 100,000-element list costs
            O(delta) rather than a copy of the list. Without ``on_version``
            writes may always do so.
        before_write: Called under the write lock at the start of every
            write, before the current head is read; it may reload the store
            (:meth:`load_history`); raising aborts the write.
        lock: The re-entrant lock serializing writers (default: a new
            one). An owner shares its own lock to exclude writes, by any
            route, while it reloads.

    Versions returned by :meth:`get_version` and :meth:`history` are private
    copies; those the checkpoint cadence picks (see ``StoreOptions``: some
    multiples of ``checkpoint_interval``) carry a copy of the full state as
    their checkpoint. The version a write returns has a private delta
    and metadata, but its checkpoint (when it carries one) is the store's new
    state itself, shared to keep writes O(delta): treat it as read-only (use
    :meth:`get_state` or :meth:`get_version` for a copy you may modify).

    Raises:
        ValidationError: Invalid ``state_id``.
        ConfigError: ``options`` is not a :class:`StoreOptions`.
    """

    def __init__(
        self,
        state_id: str = "default",
        *,
        options: StoreOptions | None = None,
        logger: logging.Logger | None = None,
        on_version: Callable[[StateVersion], None] | None = None,
        on_snapshot: Callable[[StateSnapshot], None] | None = None,
        before_write: Callable[[], None] | None = None,
        lock: threading.RLock | None = None,
        hook_reads_state: bool = True,
    ) -> None:
        self._state_id = validate_state_id(state_id)
        if options is None:
            options = StoreOptions()
        elif not isinstance(options, StoreOptions):
            raise ConfigError("options", f"must be a StoreOptions, got {type(options).__name__}")
        self._options = options
        self._limits = options.limits
        self._cadence = Cadence(options)
        self._log = logger or logging.getLogger(__name__)
        self._on_version = on_version
        # In place only if no hook could see the document half-way (see _write).
        self._in_place = on_version is None or not hook_reads_state
        self._on_snapshot = on_snapshot
        # Serializes writers. An owner (a persistent store) may share its own
        # re-entrant lock, so that its reloads and every write through this
        # store, by whatever route, exclude each other.
        self._lock = lock if lock is not None else threading.RLock()
        self._before_write = before_write
        self._writing = False  # guards against writes from inside a hook
        self._history_lock = threading.Lock()  # history/snapshot readers vs publish
        # Readers of the current document vs a write that changes it in place.
        # Re-entrant: a hook of that write may read the store.
        self._doc_lock = threading.RLock()
        self._history = History(state_id, options.checkpoint_interval, options.max_history)
        self._snapshots = SnapshotShelf(self._state_id, self._history_lock)
        self._head = _Head({}, 0, None, _EMPTY_SIZE, 0)
        self._notifier = Notifier(self._log)

    # ------------------------------------------------------------- properties
    @property
    def state_id(self) -> str:
        """The id of this state."""
        return self._state_id

    @property
    def version(self) -> int:
        """The current version number (0 before the first write)."""
        return self._head.number

    @property
    def options(self) -> StoreOptions:
        """The options this store was created with."""
        return self._options

    @property
    def state_bytes(self) -> int:
        """Estimated size of the state as compact UTF-8 JSON (what ``max_state_bytes`` bounds)."""
        return self._head.size

    def __repr__(self) -> str:
        return f"StateStore(state_id={self._state_id!r}, version={self._head.number})"

    # ------------------------------------------------------------------ reads
    def get(self, path: str = "") -> Any:
        """Return a deep copy of the value at ``path`` (``""``: the whole state).

        Raises:
            InvalidPathError: Malformed pointer, or no value there.
        """
        tokens = parse_path(path)
        with self._doc_lock:
            found, value = find(self._head.state, tokens)
            if not found:
                raise InvalidPathError(path, "no value at this path")
            return copy_json(value)

    def get_state(self) -> dict[str, Any]:
        """Return a deep copy of the whole state."""
        with self._doc_lock:
            state: dict[str, Any] = copy_json(self._head.state)
        return state

    # ----------------------------------------------------------------- writes
    def set(self, path: str, value: Any, *, metadata: dict[str, Any] | None = None) -> StateVersion:
        """Set the value at ``path``, creating missing parent objects.

        ``path == ""`` replaces the whole state (``value`` must be a dict). An
        existing array element is replaced; ``/arr/-`` or ``/arr/<len>`` appends.

        Returns:
            The new version.

        Raises:
            InvalidPathError: Malformed path, a parent is not a container, or
                an array index is out of range.
            ValidationError: ``value`` or ``metadata`` is not pure JSON.
            LimitExceededError: A limit would be exceeded.
        """
        tokens, copied = prepare_value(path, value, self._limits)
        meta = check_metadata(metadata, self._limits)

        def build(head: _Head, in_place: bool) -> Applied:
            ops = set_ops(head.state, path, tokens, copied)
            return apply_prepared(head.state, head.size, ops, self._limits, in_place)

        return self._write(build, meta)

    def delete(self, path: str, *, metadata: dict[str, Any] | None = None) -> StateVersion:
        """Remove the value at ``path``.

        Returns:
            The new version.

        Raises:
            InvalidPathError: Malformed path, ``""`` (the root), or no value there.
            ValidationError: ``metadata`` is not pure JSON.
        """
        tokens = parse_path(path)
        meta = check_metadata(metadata, self._limits)

        def build(head: _Head, in_place: bool) -> Applied:
            ops = delete_ops(head.state, path, tokens)
            return apply_prepared(head.state, head.size, ops, self._limits, in_place)

        return self._write(build, meta)

    def apply_patch(
        self, patch: list[dict[str, Any]], metadata: dict[str, Any] | None = None
    ) -> StateVersion:
        """Apply an RFC 6902 patch atomically (all operations or none).

        Returns:
            The new version (its delta is a copy of the patch's operations).

        Raises:
            PatchError: Malformed patch, or an operation failed (names its index).
            ValidationError: A value or ``metadata`` is not pure JSON, or the
                root would stop being an object.
            LimitExceededError: A limit would be exceeded.
        """
        ops = prepare_patch(patch, self._limits)
        meta = check_metadata(metadata, self._limits)
        return self._write(
            lambda head, in_place: apply_prepared(
                head.state, head.size, ops, self._limits, in_place
            ),
            meta,
        )

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Hold the write lock, refusing re-entry from a hook (it would publish out of order)."""
        with self._lock:
            if self._writing:
                raise TransactionError(
                    f"state {self._state_id!r}: a hook must not write to its own store"
                )
            self._writing = True
            try:
                yield
            finally:
                self._writing = False

    def _write(
        self,
        build: Callable[[_Head, bool], Applied],
        meta: dict[str, Any],
        expect: tuple[int, int] | None = None,
    ) -> StateVersion:
        """Compute, validate, hand to the hook, then publish one version."""
        # The hot path of every write: the same as _exclusive(), inline (the
        # generator-based context manager costs ~0.7 µs more per write).
        with self._lock:
            if self._writing:
                raise TransactionError(
                    f"state {self._state_id!r}: a hook must not write to its own store"
                )
            if self._before_write is not None:
                # May reload the history (adopting a version whose write
                # outcome was unknown): before the head is read.
                self._before_write()
            self._writing = True
            doc_lock: threading.RLock | None = None
            undo: Callable[[], None] | None = None
            try:
                head = self._head
                if expect is not None and (head.number, head.epoch) != expect:
                    detail = "history was reloaded" if head.epoch != expect[1] else ""
                    raise ConflictError(self._state_id, expect[0], head.number, detail)
                in_place = False
                # A writer never waits for a reader: if one is copying the
                # document right now, this write path-copies instead.
                if (
                    self._in_place
                    and not self._notifier.needs_old_state
                    and self._doc_lock.acquire(blocking=False)
                ):
                    doc_lock = self._doc_lock
                    # With readers shut out: does anything but the head hold the document?
                    in_place = (
                        not self._notifier.needs_old_state
                        and sys.getrefcount(head.state) <= _HELD_BY_HEAD
                    )
                    if not in_place:
                        doc_lock.release()
                        doc_lock = None
                applied = build(head, in_place)
                undo = applied.undo
                number = head.number + 1
                checkpoint, pending = self._cadence.decide(number, applied.ops, applied.size)
                version = make_version(
                    new_version_id(),
                    self._state_id,
                    number,
                    head.version_id,
                    utcnow(),
                    applied.ops,
                    meta,
                    applied.state if checkpoint else None,
                )
                plan = self._history.plan_append(applied.state)
                if self._on_version is not None:
                    self._on_version(version)
                # Commit point: nothing below can fail.
                undo = None
                with self._history_lock:
                    self._history.append(version, plan)
                    self._head = _Head(applied.state, number, version.id, applied.size, head.epoch)
                self._cadence.commit(number, checkpoint, pending)
                if self._notifier.active:
                    self._notifier.enqueue(head.state, applied.state, version)
            except BaseException:
                if undo is not None:  # abandoned after an in-place write: put it back
                    undo()
                raise
            finally:
                if doc_lock is not None:
                    doc_lock.release()
                self._writing = False
        self._notifier.drain()
        return export_written(version)

    # ------------------------------------------------------------ transactions
    def transaction(self) -> StoreTransaction:
        """Begin a transaction on the current state and version.

        Returns:
            A :class:`StoreTransaction`; use it as a context manager.
        """
        with self._doc_lock:  # the transaction's reference then keeps writers from it
            head = self._head
            state = head.state
        return StoreTransaction(
            state_id=self._state_id,
            state=state,
            base=head.number,
            size=head.size,
            epoch=head.epoch,
            limits=self._limits,
            commit=self._commit_transaction,
        )

    def _commit_transaction(
        self, base: int, epoch: int, applied: Applied, metadata: dict[str, Any]
    ) -> StateVersion:
        meta = check_metadata(metadata, self._limits)
        return self._write(lambda head, in_place: applied, meta, (base, epoch))

    # ---------------------------------------------------------------- history
    def get_version(self, number_or_id: int | str) -> StateVersion:
        """Return one kept version, by number or by id.

        Raises:
            ValidationError: Neither an int nor a str.
            NotFoundError: No such version in the kept window.
        """
        return get_version(self._history, self._history_lock, self._state_id, number_or_id)

    def history(self, limit: int = 50, before: int | None = None) -> list[StateVersion]:
        """Return up to ``limit`` kept versions numbered below ``before``, newest first.

        Raises:
            ValidationError: ``limit`` or ``before`` is not a non-negative int.
        """
        return newest_versions(self._history, self._history_lock, limit, before)

    def state_at(self, version: int) -> dict[str, Any]:
        """Return the state as it was right after ``version`` (time travel).

        Version 0 is the empty object. Replays the deltas after the nearest
        checkpoint: at most ``checkpoint_interval - 1`` of them without the
        size-aware cadence, else about ``checkpoint_bytes_ratio`` times the
        state's size in bytes and at most ``max_checkpoint_interval`` versions.

        Raises:
            ValidationError: ``version`` is not an int.
            NotFoundError: ``version`` is in the future or older than the kept window.
        """
        # The head is read under the history lock, with the replay plan.
        with self._doc_lock:
            return state_at(
                self._history, self._history_lock, lambda: self._head, self._state_id, version
            )

    # -------------------------------------------------------------- snapshots
    def create_snapshot(
        self, label: str | None = None, metadata: dict[str, Any] | None = None
    ) -> StateSnapshot:
        """Take a labelled full copy of the current state.

        The ``on_snapshot`` hook runs before the snapshot is kept; raising
        there aborts it.

        Raises:
            ValidationError: ``label`` is not a str, or ``metadata`` not pure JSON.
        """
        if label is not None and not isinstance(label, str):
            raise ValidationError("label", f"must be a string or None, got {type(label).__name__}")
        meta = check_metadata(metadata, self._limits)
        with self._exclusive():
            head = self._head
            snapshot = StateSnapshot(
                new_id(), self._state_id, head.number, utcnow(), head.state, label, meta
            )
            if self._on_snapshot is not None:
                self._on_snapshot(snapshot)
            self._snapshots.keep(snapshot)
        return export_snapshot(snapshot)

    def snapshots(self) -> list[StateSnapshot]:
        """Return every snapshot, ordered by (version, timestamp, id)."""
        return self._snapshots.listed()

    def get_snapshot(self, snapshot_id: str) -> StateSnapshot:
        """Return one snapshot.

        Raises:
            NotFoundError: No snapshot with this id.
        """
        return self._snapshots.find(snapshot_id)

    def restore_snapshot(
        self, snapshot: StateSnapshot | str, *, metadata: dict[str, Any] | None = None
    ) -> StateVersion:
        """Make a snapshot's state current again, as a new version.

        The version's delta is ``diff(current, snapshot.state)`` (or one root
        ``replace`` when that diff would exceed ``max_ops_per_patch``); its
        metadata records ``{"restored_snapshot": id}`` on top of ``metadata``.
        History keeps every version: restoring never rewrites the past.

        Args:
            snapshot: A snapshot of this state, or its id.
            metadata: Extra metadata of the new version.

        Raises:
            NotFoundError: Unknown snapshot id.
            ValidationError: A snapshot of another state, or invalid metadata.
            LimitExceededError: The snapshot's state breaks a limit.
        """
        snapshot_id, given = restore_source(snapshot, self._state_id, self._limits)
        meta = check_metadata(metadata, self._limits)
        meta["restored_snapshot"] = snapshot_id

        def build(head: _Head, in_place: bool) -> Applied:
            kept = self._snapshots.stored(snapshot_id)
            target = kept.state if kept is not None else given
            if target is None:
                raise NotFoundError("snapshot", self._state_id, snapshot_id)
            return replace_with(head.state, target, self._limits)

        return self._write(build, meta)

    # ----------------------------------------------------------- subscriptions
    def subscribe(
        self, path: str, callback: Callable[[StateChange], None], *, every_version: bool = False
    ) -> Callable[[], None]:
        """Call ``callback`` whenever a write changes the value at ``path``.

        A write notifies when it touches ``path``, something under it or one
        of its ancestors (token-wise: ``/a`` never matches ``/ab``) *and* the
        value at ``path`` actually changed. Callbacks run after the write is
        published, outside the write lock, in subscription order, and all
        callbacks of version ``n`` run before those of ``n + 1``. A callback
        may read and write the store (a nested write's callbacks run right
        after the current ones). A raising callback is reported to the error
        handler and affects neither the write nor other callbacks.

        Args:
            path: JSON Pointer to watch (``""``: the whole state).
            callback: Receives a :class:`StateChange`.
            every_version: Call ``callback`` for *every* new version, even one
                that left the value unchanged (a ``test``-only patch, a value
                set to itself). A follower that needs only the versions
                (a live AG-UI stream) uses :meth:`subscribe_versions`
                instead: a subscriber of values keeps the state before each
                write, so writes into large lists copy them while it is active.

        Returns:
            A function that unsubscribes (idempotent).

        Raises:
            InvalidPathError: Malformed path.
            ValidationError: ``callback`` is not callable.
        """
        tokens = parse_path(path)
        if not callable(callback):
            raise ValidationError("callback", f"must be callable, got {type(callback).__name__}")
        with self._doc_lock:  # not in the middle of an in-place write (it would not notify)
            return self._notifier.subscribe(
                path, tokens, callback, self._head.number, every_version=bool(every_version)
            )

    def subscribe_versions(self, callback: Callable[[StateVersion], None]) -> Callable[[], None]:
        """Call ``callback`` with every new version, in order, after it is published.

        For followers of the version sequence that need no values, such as
        a live AG-UI stream: ``callback`` gets a private copy of each version
        (a version that changed nothing included) and runs as subscription
        callbacks do (see :meth:`subscribe`). Unlike a subscription to
        ``""``, it keeps no reference to the state before each write, so
        writes into large lists stay O(delta) while it is active.

        Returns:
            A function that unsubscribes (idempotent).

        Raises:
            ValidationError: ``callback`` is not callable.
        """
        if not callable(callback):
            raise ValidationError("callback", f"must be callable, got {type(callback).__name__}")

        def deliver(version: StateVersion) -> None:
            callback(export_version(version))

        with self._doc_lock:
            return self._notifier.subscribe(
                "", [], deliver, self._head.number, every_version=True, values=False
            )

    def set_error_handler(self, fn: ErrorHandler | None) -> None:
        """Receive exceptions raised by subscriber callbacks.

        Args:
            fn: Called with each exception; ``None`` restores the default,
                which logs it with its traceback on the store's logger.
        """
        if fn is not None and not callable(fn):
            raise ValidationError("error_handler", f"must be callable, got {type(fn).__name__}")
        self._notifier.set_error_handler(fn)

    # ------------------------------------------------------------ persistence
    def load_history(
        self,
        base_version: int,
        base_state: dict[str, Any],
        versions: Sequence[StateVersion],
        snapshots: Sequence[StateSnapshot] = (),
        *,
        head_id: str | None = None,
    ) -> None:
        """Replace the store's content with a history loaded from storage.

        Used by persistence layers on resume. The versions are replayed and
        validated (limits included); the kept window follows ``max_history``;
        checkpoints are recomputed with this store's cadence, as writes place them.
        No subscriber is notified and no hook is called. Open transactions
        will conflict on commit.

        Args:
            base_version: The version ``base_state`` is the state at.
            base_state: The full state at ``base_version``.
            versions: Versions ``base_version + 1 .. head``, ascending.
            snapshots: Snapshots of the state.
            head_id: Id of version ``base_version`` when ``versions`` is
                empty, so the next version's ``parent_id`` links to it.

        Raises:
            ValidationError: Bad arguments, versions not consecutive, or of
                another state.
            CorruptDataError: A delta does not apply, or a checkpoint differs
                from the replayed state.
            LimitExceededError: A limit is exceeded.
        """
        loaded = load(
            self._state_id, self._options, base_version, base_state, versions, snapshots, head_id
        )
        with self._exclusive():
            with self._history_lock:
                self._history.reset(loaded.base_number, loaded.base_state, loaded.versions)
                self._snapshots.replace_all(loaded.snapshots)
                self._head = _Head(
                    loaded.state, loaded.head, loaded.head_id, loaded.size, self._head.epoch + 1
                )
                self._cadence = loaded.cadence
            self._notifier.restart_at(loaded.head)

    # ------------------------------------------------------------ notebook display
    def _repr_html_(self) -> str:
        """A card: state id, version, the last version's run/time/ops, the state collapsed."""
        with self._doc_lock:
            head = self._head
            with self._history_lock:
                last = self._history.get(head.number) if head.number else None
            return cards.store_card("StateStore", self._state_id, head.number, head.state, last)
