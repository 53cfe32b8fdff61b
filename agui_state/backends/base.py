"""The storage contract every backend implements, and the helpers they share.

Storage shape (see DESIGN.md): per state, a *head* version number, the
*latest checkpoint* (a full state at some version ``c <= head``), the versions
(deltas) numbered 1..head, snapshots, and the *origin*: the state at version
0. The origin is ``{}`` unless ``set_state`` stored a state while the head was
0 (creation, or re-initialization of a state without versions); backends keep
it apart from the latest checkpoint, which moves on.

* An update writes **one version** (its delta): O(size of the delta).
* A version whose :attr:`~agui_state.models.StateVersion.checkpoint` is set
  (the writer sets one every ``checkpoint_interval`` versions) also becomes
  the state's latest checkpoint.
* :meth:`StorageBackend.get_state` returns the latest checkpoint with the
  versions after it replayed: at most K-1 deltas.
* :meth:`StorageBackend.state_at` (time travel) returns what ``get_state``
  returned when the head was ``n``: from the latest checkpoint if it is at or
  before ``n``, else from the nearest older checkpoint carried by a version,
  else from the origin.
* ``set_state`` at a head ``h > 0`` is an explicit checkpoint (a repair): it
  redefines the *current* state without rewriting history (no version is
  written or changed). While it is the latest checkpoint, ``state_at(n)`` for
  ``n >= h`` starts from it, so ``state_at(h)`` is the repaired state; once a
  later version carries a checkpoint (or ``prune_history`` moves it), the
  repair is no longer stored anywhere and ``state_at(n)`` for ``h <= n`` below
  that version is rebuilt from the recorded history alone: the versions'
  deltas from the previous checkpoint or the origin, as if the repair had not
  happened. Repairs that must stay visible to time travel belong in a version.

Writes go through one primitive, :meth:`StorageBackend.write_batch`, which a
backend implements **atomically** (all items or none) with **optimistic
concurrency**: a version must be numbered ``head + 1`` (counting versions
earlier in the same batch), and ``set_state`` may carry ``expected_version``;
otherwise :class:`~agui_state.errors.ConflictError` and nothing is written.
``save_version``, ``set_state``, ``save_snapshot`` and
:class:`BatchTransaction` are thin wrappers over it.

What a backend implements (every abstract method is public and documented
below): the write primitive ``write_batch``; the reads ``read_head``,
``read_checkpoint``, ``read_origin``, ``read_version``, ``get_versions``,
``get_version_history``, ``get_snapshot``, ``list_snapshots``,
``list_states``; the maintenance steps ``delete_versions_before``,
``replace_version``, ``store_checkpoint`` (used by ``prune_history``) and
``delete_state``; ``ping`` and ``stats``. Everything else (``get_state``,
``state_at``, ``prune_history``, ``head_version``, transactions) is shared
here, built on those. The shared reads and ``prune_history`` take several
steps: they are correct for a backend used by one writer at a time, and a
backend shared by concurrent writers overrides them to run in one
transaction or under its lock (each says so: "override for concurrent use").
``agui_state.testing`` is the conformance suite a backend must pass. The
batch items and the head checks live in ``writes``, transactions in
``transaction``; both are re-exported from this module, the one to import
the contract from.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from agui_state._context import CloseOnExit
from agui_state.backends.summary import StateSummary, summarize_each
from agui_state.backends.transaction import BatchTransaction, Transaction
from agui_state.backends.writes import (
    Checkpoint,
    HeadTracker,
    Write,
    check_consecutive,
    version_conflict,
)
from agui_state.config import StorageConfig
from agui_state.errors import NotFoundError, ValidationError
from agui_state.ids import MAX_STATE_ID_LENGTH, validate_state_id
from agui_state.models import State, StateSnapshot, StateVersion, replay

__all__ = [
    "MAX_STATE_ID_LENGTH",
    "BatchTransaction",
    "Checkpoint",
    "HeadTracker",
    "StorageBackend",
    "Transaction",
    "Write",
    "check_consecutive",
    "replay",
    "validate_state_id",
    "version_conflict",
]


class StorageBackend(CloseOnExit, ABC):
    """A place to persist states, their versions and snapshots.

    Implement the abstract methods; everything else has a shared
    implementation built on them. Every method raises only
    :class:`~agui_state.errors.StateError` subclasses: backends map their
    driver's errors at this boundary.

    Thread safety: a backend instance may be used from several threads.
    """

    backend_type: ClassVar[str] = "abstract"

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self._closed = False
        self._close_lock = threading.Lock()

    # -------------------------------------------------------------- primitives
    @abstractmethod
    def write_batch(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` atomically, in order: all or none.

        Must check each write with a :class:`HeadTracker` against the stored
        heads *atomically with the write* (under the backend's lock or
        database transaction), so two processes never both win.

        A ``version`` write creates the state (checkpoint ``{}`` at 0, origin
        ``{}``) when it is version 1 of an absent state (a version carrying a
        checkpoint may open an absent state at any number: imported pruned
        histories); if the version carries a checkpoint it becomes the latest
        checkpoint. A version write never touches the origin.
        A ``state`` write stores the state as latest checkpoint at the
        (possibly new) head, creating the state if absent; when that head is
        0 (counting versions earlier in the batch) it also stores the state
        as the origin, replacing any previous one, atomically with the rest.
        A ``snapshot`` write requires the state to exist. Deleting a state
        deletes its origin: a re-created state starts from ``{}`` again.

        Raises:
            ConflictError: A version is not numbered next, or an expectation failed.
            NotFoundError: A snapshot of a state that does not exist.
            StorageError: The backend failed; nothing was written.
        """

    @abstractmethod
    def read_head(self, state_id: str) -> int | None:
        """Return the head version number of ``state_id``, or None if absent."""

    @abstractmethod
    def read_checkpoint(self, state_id: str) -> Checkpoint | None:
        """Return the latest checkpoint of ``state_id``, or None if absent."""

    @abstractmethod
    def read_origin(self, state_id: str) -> State:
        """Return the origin of ``state_id``: its state at version 0.

        That is the state of the last ``state`` write made while the head was
        0, or ``{}`` when there was none (a state created by version 1). Only
        called for a state that exists; reading it is not on the hot path
        (``state_at`` asks for it only when no checkpoint is nearer). Every
        backend stores the origin apart from the latest checkpoint (see
        :meth:`write_batch`); the conformance suite checks it.
        """

    @abstractmethod
    def get_versions(
        self, state_id: str, after: int = 0, limit: int | None = None
    ) -> list[StateVersion]:
        """Return versions numbered > ``after``, ascending, at most ``limit``.

        Pruned versions are simply absent. An absent state gives ``[]``.
        """

    @abstractmethod
    def get_version_history(
        self, state_id: str, limit: int = 50, before: int | None = None
    ) -> list[StateVersion]:
        """Return up to ``limit`` versions numbered < ``before``, newest first.

        Raises:
            NotFoundError: The state does not exist.
        """

    @abstractmethod
    def read_version(
        self, state_id: str, number: int | None, version_id: str | None
    ) -> StateVersion | None:
        """Return one version by number or by id, or None."""

    @abstractmethod
    def delete_versions_before(self, state_id: str, number: int) -> int:
        """Delete versions numbered < ``number``; return how many were deleted.

        Called by :meth:`prune_history` after the checkpoint it needs is written.
        """

    @abstractmethod
    def delete_state(self, state_id: str) -> None:
        """Delete a state with its versions and snapshots.

        Raises:
            NotFoundError: The state does not exist.
        """

    @abstractmethod
    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        """Return one snapshot.

        Raises:
            NotFoundError: No such snapshot (or state).
        """

    @abstractmethod
    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        """Return the snapshots of a state, ordered by (version, timestamp, id).

        An absent state gives ``[]``.
        """

    @abstractmethod
    def list_states(
        self, prefix: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[str]:
        """Return state ids in ascending code-point order, paged.

        Args:
            prefix: Only ids starting with this.
            limit: At most this many ids.
            after: Only ids strictly greater than this (the last id of the
                previous page).
        """

    @abstractmethod
    def ping(self) -> None:
        """Do a real round trip to the backend.

        Raises:
            BackendUnavailableError: It cannot be reached.
        """

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Return figures about the backend; always has ``backend_type``.

        Never contains a password.
        """

    def close(self) -> None:
        """Release connections and files. Idempotent."""
        with self._close_lock:
            self._closed = True

    # ------------------------------------------------------------ shared API
    def save_version(self, state_id: str, version: StateVersion) -> None:
        """Append one version (numbered head + 1) atomically.

        Raises:
            ConflictError: Another writer got there first.
        """
        self.write_batch([Write.of_version(state_id, version)])

    def set_state(
        self, state_id: str, state: State, *, expected_version: int | None = None
    ) -> None:
        """Store ``state`` in full as the state's latest checkpoint at its head.

        Creates the state at version 0 when absent. This writes no version:
        it is for creation, import and explicit checkpoints; updates should
        go through :meth:`save_version`.

        At head 0 (creation, or a state without versions yet) ``state`` is
        also stored as the origin, what :meth:`state_at` returns for version
        0 for good. At a head ``h > 0`` it is an explicit checkpoint or
        repair: it redefines the current state without rewriting history
        (see the module docstring for what :meth:`state_at` returns then).

        Raises:
            ConflictError: ``expected_version`` given and the head differs.
        """
        self.write_batch([Write.of_state(state_id, state, expected_version)])

    def save_snapshot(self, state_id: str, snapshot: StateSnapshot) -> None:
        """Store a snapshot (a snapshot with the same id is replaced).

        Raises:
            NotFoundError: The state does not exist.
        """
        self.write_batch([Write.of_snapshot(state_id, snapshot)])

    def begin_transaction(self) -> Transaction:
        """Start a transaction whose writes are applied atomically on commit."""
        return BatchTransaction(self)

    def head_version(self, state_id: str) -> int:
        """Return the current version number of a state (0: no versions yet).

        Raises:
            NotFoundError: The state does not exist.
        """
        head = self.read_head(validate_state_id(state_id))
        if head is None:
            raise NotFoundError("state", state_id)
        return head

    def exists(self, state_id: str) -> bool:
        """Return whether the state exists."""
        return self.read_head(validate_state_id(state_id)) is not None

    def get_state(self, state_id: str) -> State:
        """Return the current state: latest checkpoint plus the deltas after it.

        Override for concurrent use: this default reads the checkpoint and
        then the versions after it in two steps, so a ``prune_history`` or
        ``set_state`` of another writer in between can make it fail or mix
        two moments. A backend shared by writers reads both in one
        transaction, snapshot or lock.

        Raises:
            NotFoundError: The state does not exist.
            CorruptDataError: Stored data cannot be read back.
        """
        validate_state_id(state_id)
        cp = self.read_checkpoint(state_id)
        if cp is None:
            raise NotFoundError("state", state_id)
        tail = self.get_versions(state_id, after=cp.version)
        check_consecutive(state_id, cp.version, tail)
        return replay(cp.state, tail, state_id)

    def get_version(self, state_id: str, version_id: int | str) -> StateVersion:
        """Return one version, by number (int) or by id (str).

        Raises:
            NotFoundError: No such version (or it was pruned).
        """
        validate_state_id(state_id)
        if isinstance(version_id, bool) or not isinstance(version_id, (int, str)):
            raise ValidationError("version_id", f"must be a number or an id, got {version_id!r}")
        if isinstance(version_id, int):
            found = self.read_version(state_id, version_id, None)
        else:
            found = self.read_version(state_id, None, version_id)
        if found is None:
            raise NotFoundError("version", state_id, version_id)
        return found

    def state_at(self, state_id: str, number: int) -> State:
        """Return the state as it was at version ``number`` (time travel).

        That is what :meth:`get_state` returned when the head was ``number``
        (for version 0: the origin). Starts from the latest checkpoint if it
        is at or before ``number``, else from the nearest older checkpoint
        carried by a version, else from the origin. After a ``set_state`` at
        a head above 0, see the module docstring. Override for concurrent
        use, as :meth:`get_state`: this default reads in several steps.

        Version 0 counts as pruned once version 1 is: after
        :meth:`prune_history` cut the start of the history (or for a history
        opened at a later version), ``state_at(0)`` raises like any other
        pruned number.

        Raises:
            NotFoundError: The state does not exist or that version was pruned.
        """
        validate_state_id(state_id)
        cp = self.read_checkpoint(state_id)
        if cp is None:
            raise NotFoundError("state", state_id)
        head = self.read_head(state_id) or 0
        if not 0 <= number <= head:
            raise NotFoundError("version", state_id, number)
        if cp.version <= number:
            tail = self.get_versions(state_id, after=cp.version, limit=number - cp.version)
            check_consecutive(state_id, cp.version, tail)
            return replay(cp.state, tail, state_id)
        if number == 0:
            # The latest checkpoint moved on; the origin answers as long as
            # the history still starts at version 1.
            if self.read_version(state_id, 1, None) is None:
                raise NotFoundError("version", state_id, number)
            return self.read_origin(state_id)
        # Walk back to the nearest older checkpoint carried by a version.
        chain: list[StateVersion] = []
        before = number + 1
        while True:
            page = self.get_version_history(state_id, limit=100, before=before)
            for version in page:
                if version.number <= number and version.checkpoint is not None:
                    chain.reverse()
                    return replay(version.checkpoint, chain, state_id)
                chain.append(version)
            if not page or page[-1].number == 1:
                break
            before = page[-1].number
        if chain and chain[-1].number == 1:
            chain.reverse()
            return replay(self.read_origin(state_id), chain, state_id)
        raise NotFoundError("version", state_id, number)

    def prune_history(self, state_id: str, keep_last: int) -> int:
        """Delete all but the newest ``keep_last`` versions.

        Override for concurrent use: this default reads, writes a checkpoint
        and deletes in separate steps; a backend shared by writers runs them
        under one lock or transaction so a concurrent write cannot fall in
        between.

        Every remaining version stays reconstructible: the oldest kept
        version is rewritten with a checkpoint first (and the latest
        checkpoint moved forward if it pointed into the pruned range).
        Version numbers never change; new versions continue from the head.
        Version 0 goes with version 1: once it is pruned, ``state_at(0)``
        raises :class:`~agui_state.errors.NotFoundError` too (the origin may
        stay stored, but nothing answers with it any more).

        Returns:
            How many versions were deleted.

        Raises:
            NotFoundError: The state does not exist.
            ValidationError: ``keep_last`` is negative.
        """
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
            raise ValidationError("keep_last", f"must be a non-negative integer, got {keep_last!r}")
        head = self.head_version(state_id)
        first_kept = head - keep_last + 1
        if keep_last == 0:
            # Keep nothing: the checkpoint at the head carries the whole state.
            self.write_checkpoint_for_prune(state_id, head, None)
            return self.delete_versions_before(state_id, head + 1)
        if first_kept <= 1:
            return 0
        oldest = self.read_version(state_id, first_kept, None)
        if oldest is None:
            return 0
        if oldest.checkpoint is None:
            state = self.state_at(state_id, first_kept)
            self.write_checkpoint_for_prune(state_id, first_kept, oldest.with_checkpoint(state))
        return self.delete_versions_before(state_id, first_kept)

    def write_checkpoint_for_prune(
        self, state_id: str, number: int, version: StateVersion | None
    ) -> None:
        """Store a checkpoint at ``number`` without changing the head.

        ``version`` (when given) replaces the stored version ``number`` with a
        copy that carries its checkpoint. Backends that cannot rewrite a
        version in place override this. The default rewrites via
        :meth:`replace_version` and moves the latest checkpoint forward when
        it is older than ``number``.
        """
        if version is not None:
            self.replace_version(state_id, version)
        cp = self.read_checkpoint(state_id)
        if cp is not None and cp.version < number:
            state = version.checkpoint if version is not None else self.get_state(state_id)
            assert state is not None
            self.store_checkpoint(state_id, Checkpoint(number, state))

    @abstractmethod
    def replace_version(self, state_id: str, version: StateVersion) -> None:
        """Overwrite the stored version with the same number (used by prune)."""

    @abstractmethod
    def store_checkpoint(self, state_id: str, checkpoint: Checkpoint) -> None:
        """Overwrite the latest checkpoint without touching the head (used by prune)."""

    def iter_states(self, prefix: str | None = None, page_size: int = 500) -> Iterator[str]:
        """Yield every state id (ascending), fetching pages of ``page_size``."""
        after: str | None = None
        while True:
            page = self.list_states(prefix=prefix, limit=page_size, after=after)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1]

    def summarize_states(self, state_ids: Sequence[str]) -> list[StateSummary]:
        """Return a :class:`StateSummary` per existing state of ``state_ids`` (a page of a listing).

        Absent ids are skipped. The default reads each state through the
        contract; backends with round trips override it with bulk reads.
        """
        return summarize_each(self, [validate_state_id(sid) for sid in state_ids])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.config.redacted_url!r})"
