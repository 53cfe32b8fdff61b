"""Backend reads and writes shared by import (:mod:`agui_state.migration`) and
migration (:mod:`agui_state.migration.copying`).

A module of its own so both can use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from agui_state.backends.base import Checkpoint, StorageBackend, Write
from agui_state.errors import NotFoundError
from agui_state.models import State, StateSnapshot, StateVersion
from agui_state.patch import json_equal

__all__ = ["missing_snapshots", "read_checkpoint", "read_origin", "state_writes"]


def read_checkpoint(backend: StorageBackend, state_id: str) -> Checkpoint:
    """The latest checkpoint of ``state_id``.

    Raises:
        NotFoundError: The state does not exist.
    """
    # The latest checkpoint is part of the storage contract but read through
    # its internal hook: export must carry it to restore a state exactly.
    cp = backend.read_checkpoint(state_id)
    if cp is None:
        raise NotFoundError("state", state_id)
    return cp


def read_origin(backend: StorageBackend, state_id: str, cp: Checkpoint) -> State:
    """The state at version 0 (the caller knows the history starts at version 1).

    While the latest checkpoint is at version 0 it *is* the origin (also for
    data stored before backends kept the origin apart).
    """
    return cp.state if cp.version == 0 else backend.read_origin(state_id)


def missing_snapshots(
    backend: StorageBackend, state_id: str, snapshots: Sequence[StateSnapshot]
) -> list[StateSnapshot]:
    """The ``snapshots`` that ``backend`` does not hold (by id), in order."""
    have = {s.id for s in backend.list_snapshots(state_id)}
    return [s for s in snapshots if s.id not in have]


def state_writes(
    state_id: str,
    origin: State,
    versions: Sequence[StateVersion],
    *,
    opening: bool,
    head_state: State | None = None,
    head: int = 0,
) -> list[Write]:
    """Build the writes that recreate (part of) a state's history.

    Args:
        state_id: The state.
        origin: The source's state at version 0.
        versions: The versions to write, ascending.
        opening: These are the first writes of an absent state: an origin
            that is not ``{}`` (or has no versions on top) is stored first,
            with ``set_state`` at head 0, unless the history is pruned (it
            then opens with its oldest version, which carries a checkpoint).
        head_state: When given, stored last as the latest checkpoint at
            ``head``: needed when no version carries the source's checkpoint
            (it was written with ``set_state``), so the destination does not
            have to replay the whole history on every read.
        head: The head the ``head_state`` belongs to.
    """
    writes: list[Write] = []
    if opening and (not versions or (versions[0].number == 1 and not json_equal(origin, {}))):
        writes.append(Write.of_state(state_id, origin, expected_version=0))
    writes += [Write.of_version(state_id, v) for v in versions]
    if head_state is not None:
        writes.append(Write.of_state(state_id, head_state, expected_version=head))
    return writes
