"""The in-memory version window of one state.

Internal module of the store layer. Memory holds, per state:

* the kept versions (deltas and metadata), numbered ``base + 1 .. head``;
  every version whose number is a multiple of ``checkpoint_interval`` also
  carries the full state after it (shared, not copied: states are immutable);
* the *base*: the state at version ``base`` (just before the oldest kept
  version), so the window stays reconstructible after old versions are
  dropped. It is kept lazily, as an *anchor* state plus the dropped versions
  after it (``folded``): dropping a version costs nothing until a dropped
  version carries a checkpoint, which becomes the new anchor. Only when
  ``folded`` reaches ``max_history`` versions (a checkpoint interval longer
  than the window) are they replayed onto the anchor, so at most twice the
  window is held and a write replays at most one delta on average. (Replaying
  each dropped delta at once cost one patch application per write.)

``state_at(n)`` starts from the nearest checkpoint at or before ``n`` (or the
anchor, if newer) and replays at most ``checkpoint_interval - 1`` deltas.

Not thread-safe by itself: the store mutates it under its write lock and
reads it under its history lock.
"""

from __future__ import annotations

from typing import NamedTuple

from agui_state.models import State, StateVersion, replay

__all__ = ["History"]


class _Plan(NamedTuple):
    """How an append moves the base (see :meth:`History.plan_append`)."""

    base_number: int
    anchor: State
    keep: bool  # keep the current folded versions (else start over from the anchor)
    extra: list[StateVersion]  # newly dropped versions to fold after them


class History:
    """Kept versions plus the base state before them.

    Args:
        state_id: The state (for error messages).
        checkpoint_interval: ``K``: versions numbered ``n % K == 0`` carry checkpoints.
        max_history: How many versions to keep (``None``: all).
    """

    def __init__(self, state_id: str, checkpoint_interval: int, max_history: int | None) -> None:
        self._state_id = state_id
        self._k = checkpoint_interval
        self._max = max_history
        self.base_number = 0
        self._anchor: State = {}  # the state at base_number - len(self._folded)
        self._folded: list[StateVersion] = []  # dropped versions after the anchor
        self._versions: dict[int, StateVersion] = {}
        self._ids: dict[str, int] = {}

    @property
    def head(self) -> int:
        """Number of the newest version (the base number when none is kept)."""
        return self.base_number + len(self._versions)

    def __len__(self) -> int:
        return len(self._versions)

    def reset(self, base_number: int, base_state: State, versions: list[StateVersion]) -> None:
        """Replace everything: ``versions`` must be numbered ``base_number + 1 ..``."""
        self.base_number = base_number
        self._anchor = base_state
        self._folded = []
        self._versions = {v.number: v for v in versions}
        self._ids = {v.id: v.number for v in versions}

    # ----------------------------------------------------------------- writes
    def plan_append(self, new_state: State) -> _Plan | None:
        """Return how appending one version moves the base, or None if nothing is dropped.

        This is the only step of an append that computes anything (and so
        could fail); the store calls it *before* the persistence hook so that
        :meth:`append` itself cannot fail after the hook has accepted a version.

        Args:
            new_state: The state after the version about to be appended.
        """
        if self._max is None or len(self._versions) + 1 <= self._max:
            return None
        drop = len(self._versions) + 1 - self._max
        number, anchor, keep = self.base_number, self._anchor, True
        extra: list[StateVersion] = []
        head = self.head
        for _ in range(drop):
            number += 1
            if number == head + 1:  # dropping the new version itself (max_history=0)
                anchor, keep = new_state, False
                extra = []
                continue
            version = self._versions[number]
            if version.checkpoint is not None:
                anchor, keep = version.checkpoint, False
                extra = []
            else:
                extra.append(version)
        folded = (len(self._folded) if keep else 0) + len(extra)
        if folded >= max(self._max, 1):
            pending = (self._folded if keep else []) + extra
            anchor, keep, extra = replay(anchor, pending, self._state_id), False, []
        return _Plan(number, anchor, keep, extra)

    def append(self, version: StateVersion, plan: _Plan | None) -> None:
        """Append ``version`` (numbered head + 1), dropping as :meth:`plan_append` said."""
        self._versions[version.number] = version
        self._ids[version.id] = version.number
        if plan is None:
            return
        for number in range(self.base_number + 1, plan.base_number + 1):
            dropped = self._versions.pop(number)
            del self._ids[dropped.id]
        self.base_number, self._anchor = plan.base_number, plan.anchor
        if plan.keep:
            self._folded.extend(plan.extra)
        else:
            self._folded = plan.extra

    # ------------------------------------------------------------------ reads
    def get(self, number: int) -> StateVersion | None:
        """Return version ``number`` if kept."""
        return self._versions.get(number)

    def by_id(self, version_id: str) -> StateVersion | None:
        """Return the kept version with this id."""
        number = self._ids.get(version_id)
        return None if number is None else self._versions[number]

    def newest_first(self, limit: int, before: int | None) -> list[StateVersion]:
        """Return up to ``limit`` kept versions numbered < ``before``, newest first."""
        top = self.head if before is None else min(before - 1, self.head)
        bottom = max(top - limit + 1, self.base_number + 1)
        return [self._versions[n] for n in range(top, bottom - 1, -1)]

    def replay_plan(self, number: int) -> tuple[State, list[StateVersion]] | None:
        """Return (start state, deltas to replay) giving the state at ``number``.

        None when ``number`` is outside ``base .. head``.
        """
        if not self.base_number <= number <= self.head:
            return None
        nearest = number - number % self._k
        if nearest > self.base_number:
            version = self._versions[nearest]
            if version.checkpoint is not None:
                return version.checkpoint, [
                    self._versions[n] for n in range(nearest + 1, number + 1)
                ]
        kept = [self._versions[n] for n in range(self.base_number + 1, number + 1)]
        return self._anchor, [*self._folded, *kept]
