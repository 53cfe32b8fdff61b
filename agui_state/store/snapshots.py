"""The snapshot read side of :class:`~agui_state.store.StateStore`.

Internal module of the store layer: listing and looking up snapshots, and
resolving the argument of ``restore_snapshot`` before the write starts. The
store's snapshot dict is replaced as a whole by ``load_history``, so the
readers take a getter and call it under the lock, exactly as the store did.
Creating a snapshot and the restore write itself stay in the store: they
need its write lock and head.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from agui_state.errors import NotFoundError, ValidationError
from agui_state.models import State, StateSnapshot
from agui_state.store.jsonutil import copy_json, export_snapshot
from agui_state.store.limits import StoreLimits, check_state

__all__ = ["find_snapshot", "list_snapshots", "restore_source"]

Snapshots = Callable[[], dict[str, StateSnapshot]]


def list_snapshots(lock: threading.Lock, snapshots: Snapshots) -> list[StateSnapshot]:
    """Return copies of every snapshot, ordered by (version, timestamp, id)."""
    with lock:
        found = list(snapshots().values())
    found.sort(key=lambda s: (s.version, s.timestamp, s.id))
    return [export_snapshot(s) for s in found]


def find_snapshot(
    lock: threading.Lock, snapshots: Snapshots, state_id: str, snapshot_id: str
) -> StateSnapshot:
    """Return a copy of one snapshot.

    Raises:
        NotFoundError: No snapshot with this id.
    """
    with lock:
        found = snapshots().get(snapshot_id) if isinstance(snapshot_id, str) else None
    if found is None:
        raise NotFoundError("snapshot", state_id, str(snapshot_id))
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
