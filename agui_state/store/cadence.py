"""Which versions carry a full-state checkpoint.

Internal module of the store layer. A checkpoint makes reads cheap (``state_at``
and a resume start from it instead of replaying every delta) but costs a write
of the whole state in every backend. Counting versions alone (one every ``K``)
makes that cost grow with the state: at 1 MB, one checkpoint per 100 one-leaf
updates writes 10 KB per update, two hundred times the deltas themselves.

So the cadence is size-aware. Checkpoints still fall only on multiples of
``checkpoint_interval`` (``K``), which keeps the replay plan simple, but a
due checkpoint is written only when either

* the deltas written since the last checkpoint add up to at least
  ``checkpoint_bytes_ratio`` times the state's size (compact JSON bytes), or
* ``checkpoint_max_interval`` versions have passed since it (the count bound).

Replaying from the nearest checkpoint then reads at most
``ratio * size + K deltas`` bytes and at most ``checkpoint_max_interval``
versions, and the checkpoint bytes written per update stay proportional to
the deltas (about ``1 / ratio`` times them), whatever the state's size.
With ``checkpoint_bytes_ratio=None`` every ``K``-th version carries one.

Alternatives rejected: checkpointing on the byte rule at any version (the
replay plan would need an index of checkpoints instead of multiples of ``K``);
measuring delta sizes exactly with the JSON encoder (about 1 µs per write;
the estimate below costs a tenth of that for scalar values, and a bound only
needs the order of magnitude).
"""

from __future__ import annotations

from collections.abc import Sequence

from agui_state.models import Operation
from agui_state.store.jsonutil import json_size
from agui_state.store.limits import StoreOptions

__all__ = ["Cadence", "delta_bytes"]

_OP_OVERHEAD = 24  # '{"op":"replace","path":' and the rest of an operation's JSON


def delta_bytes(ops: Sequence[Operation]) -> int:
    """Estimate the JSON size of a delta (paths counted in characters)."""
    total = 0
    for op in ops:
        total += _OP_OVERHEAD + len(op["path"])
        if "value" in op:
            total += json_size(op["value"])
        elif "from" in op:
            total += len(op["from"])
    return total


class Cadence:
    """Decides, version by version, whether a version carries a checkpoint.

    Not thread-safe by itself: the store calls it under its write lock.
    """

    def __init__(self, options: StoreOptions) -> None:
        self._k = options.checkpoint_interval
        self._ratio = options.checkpoint_bytes_ratio
        self._max = options.max_checkpoint_interval
        self.last = 0  # number of the last checkpoint (or of the base state)
        self.pending = 0  # estimated delta bytes written since it

    def reset(self, last: int) -> None:
        """Start counting after version ``last``, whose full state is known."""
        self.last, self.pending = last, 0

    def decide(self, number: int, ops: Sequence[Operation], size: int) -> tuple[bool, int]:
        """Return (whether version ``number`` carries a checkpoint, pending bytes after it).

        Args:
            number: The new version's number.
            ops: Its delta.
            size: The state's size after it (compact JSON bytes).
        """
        if self._ratio is None:
            return number % self._k == 0, 0
        pending = self.pending + delta_bytes(ops)
        if number % self._k:
            return False, pending
        if number - self.last >= self._max or pending >= self._ratio * size:
            return True, 0
        return False, pending

    def commit(self, number: int, checkpoint: bool, pending: int) -> None:
        """Record a published version (what :meth:`decide` said about it)."""
        if checkpoint:
            self.last = number
        self.pending = pending
