"""The snapshots of a :class:`~agui_state.store.StateStore`, and resolving a restore.

Internal module of the store layer. :class:`SnapshotShelf` owns the store's
snapshots by id: readers copy them out under the lock it shares with the
store's history (a publish changes both together); the store keeps a new
snapshot through it and swaps the whole content in ``load_history``.
:func:`restore_source` resolves the argument of ``restore_snapshot`` before
the write starts. Creating a snapshot and the restore write itself stay in
the store: they need its write lock and head.
"""

from __future__ import annotations

import threading

from agui_state.errors import NotFoundError, ValidationError
from agui_state.models import State, StateSnapshot
from agui_state.store.jsonutil import copy_json, export_snapshot
from agui_state.store.limits import StoreLimits, check_state

__all__ = ["SnapshotShelf", "restore_source"]


class SnapshotShelf:
    """The snapshots of one state, by id.

    Args:
        state_id: The state (for error messages).
        lock: The store's history lock: readers take it; :meth:`replace_all`
            expects the caller to hold it (the store swaps snapshots, history
            and head in one step).
    """

    def __init__(self, state_id: str, lock: threading.Lock) -> None:
        self._state_id = state_id
        self._lock = lock
        self._items: dict[str, StateSnapshot] = {}

    def keep(self, snapshot: StateSnapshot) -> None:
        """Keep ``snapshot`` (same id: replaced); it must be private to the store."""
        with self._lock:
            self._items[snapshot.id] = snapshot

    def replace_all(self, snapshots: dict[str, StateSnapshot]) -> None:
        """Replace every snapshot (the caller holds the lock)."""
        self._items = snapshots

    def stored(self, snapshot_id: str) -> StateSnapshot | None:
        """The kept snapshot itself (not a copy: for the store's writers), or None."""
        return self._items.get(snapshot_id)

    def listed(self) -> list[StateSnapshot]:
        """Return copies of every snapshot, ordered by (version, timestamp, id)."""
        with self._lock:
            found = list(self._items.values())
        found.sort(key=lambda s: (s.version, s.timestamp, s.id))
        return [export_snapshot(s) for s in found]

    def find(self, snapshot_id: str) -> StateSnapshot:
        """Return a copy of one snapshot.

        Raises:
            NotFoundError: No snapshot with this id.
        """
        with self._lock:
            found = self._items.get(snapshot_id) if isinstance(snapshot_id, str) else None
        if found is None:
            raise NotFoundError("snapshot", self._state_id, str(snapshot_id))
        return export_snapshot(found)


def restore_source(
    snapshot: StateSnapshot | str, state_id: str, limits: StoreLimits
) -> tuple[str, State | None]:
    """Resolve what ``restore_snapshot`` was given, outside the write lock.

    Returns:
        The snapshot id, and a validated private copy of its state when a
        :class:`StateSnapshot` was given (used if the store does not keep it),
        else ``None``.

    Raises:
        ValidationError: A snapshot of another state, or neither a snapshot nor an id.
        LimitExceededError: The given snapshot's state breaks a limit.
    """
    if isinstance(snapshot, StateSnapshot):
        if snapshot.state_id != state_id:
            raise ValidationError(
                "snapshot.state_id",
                f"snapshot {snapshot.id!r} is of state {snapshot.state_id!r}, not {state_id!r}",
            )
        check_state(snapshot.state, limits, "snapshot.state")
        given: State = copy_json(snapshot.state)
        return snapshot.id, given
    if isinstance(snapshot, str):
        return snapshot, None
    raise ValidationError(
        "snapshot", f"must be a StateSnapshot or an id, got {type(snapshot).__name__}"
    )
