"""Atomic write batches: the items of a batch and the head checks every backend applies.

:class:`Write` is one item of :meth:`~agui_state.backends.base.StorageBackend.write_batch`;
:class:`HeadTracker` is the optimistic-concurrency rule backends run while
holding their lock or inside their database transaction;
:func:`check_consecutive` checks a run of versions read back has no hole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agui_state.errors import (
    ConflictError,
    CorruptDataError,
    NotFoundError,
    ValidationError,
)
from agui_state.ids import validate_state_id
from agui_state.models import State, StateSnapshot, StateVersion

__all__ = ["Checkpoint", "HeadTracker", "Write", "check_consecutive", "version_conflict"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A full state at a version number (``version == 0``: the origin)."""

    version: int
    state: State


@dataclass(frozen=True, slots=True)
class Write:
    """One item of an atomic write batch.

    Use the constructors :meth:`of_version`, :meth:`of_state`, :meth:`of_snapshot`.
    """

    kind: Literal["version", "state", "snapshot"]
    state_id: str
    version: StateVersion | None = None
    state: State | None = None
    snapshot: StateSnapshot | None = None
    expected_version: int | None = None

    @classmethod
    def of_version(cls, state_id: str, version: StateVersion) -> Write:
        """Append ``version``; it must be numbered head + 1."""
        if version.state_id != state_id:
            raise ValidationError(
                "version.state_id", f"{version.state_id!r} does not match state {state_id!r}"
            )
        return cls("version", validate_state_id(state_id), version=version)

    @classmethod
    def of_state(cls, state_id: str, state: State, expected_version: int | None = None) -> Write:
        """Store ``state`` as the latest checkpoint at the current head.

        At head 0 (or for an absent state) it is also the state's origin.
        """
        if not isinstance(state, dict):
            raise ValidationError("state", f"must be a JSON object, got {type(state).__name__}")
        return cls(
            "state", validate_state_id(state_id), state=state, expected_version=expected_version
        )

    @classmethod
    def of_snapshot(cls, state_id: str, snapshot: StateSnapshot) -> Write:
        """Store ``snapshot`` (same id: replaced)."""
        if snapshot.state_id != state_id:
            raise ValidationError(
                "snapshot.state_id", f"{snapshot.state_id!r} does not match state {state_id!r}"
            )
        return cls("snapshot", validate_state_id(state_id), snapshot=snapshot)


def version_conflict(state_id: str, number: int, head: int) -> ConflictError:
    """Return the :class:`ConflictError` for appending version ``number`` at ``head``.

    Every backend raises this one, so the message is the same everywhere.
    """
    if number <= head:
        detail = f"version {number} is already stored: another writer got there first"
    else:
        detail = f"version {number} would leave a gap after version {head}"
    return ConflictError(state_id, number - 1, head, detail)


class HeadTracker:
    """Checks a batch against the stored heads, as backends commit it.

    ``check(write, stored_head)`` raises :class:`ConflictError` when a version
    is not numbered next or a ``set_state`` expectation fails, counting the
    versions earlier in the same batch. Backends call it while holding their
    lock / inside their database transaction, so check and write are atomic.
    """

    def __init__(self) -> None:
        self.heads: dict[str, int] = {}

    def head(self, state_id: str, stored_head: int | None) -> int | None:
        """Return the head of ``state_id`` as of this point in the batch."""
        return self.heads.get(state_id, stored_head)

    def check(self, write: Write, stored_head: int | None) -> None:
        """Validate ``write`` against ``stored_head`` (None: state absent).

        Raises:
            ConflictError: Version not numbered head + 1, or expectation failed.
            NotFoundError: A snapshot for a state that does not exist.
        """
        head = self.head(write.state_id, stored_head)
        if write.kind == "version":
            assert write.version is not None
            expected_next = (head or 0) + 1
            # A version that carries a checkpoint may open an absent state's
            # stored history at any number: that is how a pruned history is
            # imported or migrated (its oldest kept version has a checkpoint).
            opens_pruned = head is None and write.version.checkpoint is not None
            if write.version.number != expected_next and not opens_pruned:
                raise version_conflict(write.state_id, write.version.number, head or 0)
            self.heads[write.state_id] = write.version.number
        elif write.kind == "state":
            if write.expected_version is not None and (head or 0) != write.expected_version:
                raise ConflictError(write.state_id, write.expected_version, head)
            self.heads[write.state_id] = head or 0
        elif head is None:
            raise NotFoundError("state", write.state_id)


def check_consecutive(state_id: str, after: int, versions: Sequence[StateVersion]) -> None:
    expected = after + 1
    for version in versions:
        if version.number != expected:
            raise CorruptDataError(
                f"state {state_id!r}",
                f"version history has a hole: expected version {expected}, found {version.number}",
            )
        expected += 1
