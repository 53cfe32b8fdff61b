"""Applying prepared operations while keeping the size estimate exact, in O(delta).

Internal module of the store layer. :func:`apply_sized` applies a patch with
the patch engine's own path-copying applier (:class:`agui_state.patch.apply.Applier`),
so every operation keeps the engine's exact semantics and error messages,
and accounts for the size change of each structural step in the engine's
``on_step`` hook, from the values that step touches (the engine hands them
over as it writes: no second walk down the path), never from the containers
around them:

* replace ``v`` by ``w``: ``size(w) - size(v)``;
* add into an object: ``size(key) + 1 + size(w)`` plus a comma if the object
  was not empty (or ``size(w) - size(v)`` if the member existed);
* add into an array: ``size(w)`` plus a comma if the array was not empty;
* remove: the inverse of the add;
* move: a remove and an add of the same value, whose size cancels out (so a
  move costs O(1) however big the value);
* copy: an add of a copy of the source;
* a step at the root: the new root's size.

This is exactly ``json_size(new) - json_size(old)`` (compact JSON), in
O(path depth + touched values) whatever the size of the containers: a leaf
``replace`` inside a 5,000-element array no longer scans the array.

The same steps check the nesting depth of values brought in by ``copy`` and
``move`` (values of ``add``/``replace`` were checked when the patch was
prepared). A depth violation is reported after the whole patch applied, so
a patch that also fails an operation reports that failure, as the engine would.

Values of ``add`` and ``replace`` are *not* claimed by the applier (the
engine claims a value of ``run`` as its own, to write into it in place):
they are shared with the version's delta (one private copy of the caller's
patch serves both), so a later operation of the same patch writing inside
such a value path-copies it instead of mutating it in place.
"""

from __future__ import annotations

from typing import Any

from agui_state.errors import LimitExceededError, PatchError
from agui_state.patch import format_pointer
from agui_state.patch.apply import ABSENT, Applier
from agui_state.patch.ops import ParsedOp
from agui_state.patch.pointer import StepError
from agui_state.store.jsonutil import json_size, key_size
from agui_state.store.limits import StoreLimits, check_depth

__all__ = ["apply_sized"]


def apply_sized(
    state: Any, size: int, steps: list[ParsedOp], limits: StoreLimits, *, in_place: bool = False
) -> tuple[Any, int, Applier]:
    """Apply ``steps`` to ``state``; return the new document, its compact JSON size, the applier.

    Unless ``in_place``, ``state`` is never mutated and shares every untouched
    subtree with the result, as with :func:`agui_state.patch.apply_patch`.

    Args:
        state: The current document (valid, ``size`` bytes of compact JSON).
        size: Its exact compact JSON size.
        steps: Operations prepared by :mod:`agui_state.store.apply` (validated,
            values private to the store).
        limits: ``max_depth`` is checked on values brought in by move/copy.
        in_place: The caller holds the only reference to ``state``: write
            unshared containers in place (see :class:`Applier`). On failure
            the writes are undone before raising; on success the caller
            undoes them with the returned applier's ``undo()`` if it drops
            the result.

    Raises:
        PatchError: An operation failed (names its index, op and path).
        LimitExceededError: A moved or copied value ends up too deep.
    """
    applier = _SizedApplier(state, size, limits, in_place)
    try:
        for step in steps:
            try:
                applier.apply(step)
            except StepError as exc:
                raise PatchError(
                    exc.reason, index=step.position, op=step.op, path=step.path
                ) from None
        if applier.depth_error is not None:
            raise applier.depth_error
    except BaseException:
        applier.undo()
        raise
    return applier.root, applier.size, applier


class _SizedApplier(Applier):
    """The engine's applier, accounting for the size change of every step in ``on_step``."""

    __slots__ = ("depth_error", "limits", "moving", "size", "step")

    def __init__(self, root: Any, size: int, limits: StoreLimits, in_place: bool) -> None:
        super().__init__(root, in_place=in_place)
        self.size = size
        self.limits = limits
        self.step: ParsedOp | None = None
        self.moving = False
        self.depth_error: LimitExceededError | None = None

    def apply(self, step: ParsedOp) -> None:
        """Apply one operation: the engine's ``run``, except that values are not claimed."""
        self.step = step
        kind = step.op
        # A moved value's size cancels out between its removal and insertion.
        self.moving = kind == "move"
        # What the engine's run() does for these three, except that the value
        # is not claimed (see the module docstring); move, copy and test go
        # through the engine's own logic (a copied value is a fresh clone, which
        # the engine may claim).
        if kind == "replace":
            self.replace(step.tokens, step.value)
        elif kind == "add":
            self.add(step.tokens, step.value)
        elif kind == "remove":
            self.remove(step.tokens)
        else:
            self.run(step)

    def on_step(self, parent: Any, key: str | int | None, old: Any, new: Any) -> None:
        if parent is None:  # a new root: the whole size (never too deep)
            self.size = json_size(new)
            return
        if new is ABSENT:  # a removal; the parent has shrunk already
            change = 1 if parent else 0  # the comma that went with it
            if isinstance(key, str):  # a member of an object: its key and colon
                change += key_size(key) + 1
            if not self.moving:
                change += json_size(old)
            self.size -= change
            return
        change = 0 if self.moving else json_size(new)
        if old is not ABSENT:  # a replacement (replace, or add onto a member)
            change -= json_size(old)
        else:  # an insertion; the parent has grown already
            change += 1 if len(parent) > 1 else 0
            if isinstance(key, str):
                change += key_size(key) + 1
        self.size += change
        self._check_depth(new)

    def _check_depth(self, value: Any) -> None:
        """Check ``max_depth`` on a value a move or copy brought in (add/replace were checked)."""
        step = self.step
        if step is None or step.op not in ("move", "copy") or not isinstance(value, (dict, list)):
            return
        # Only a copy, or a move to a deeper place, can break max_depth.
        source = step.from_tokens or []
        if (step.op == "copy" or len(step.tokens) > len(source)) and self.depth_error is None:
            try:
                check_depth(value, format_pointer(step.tokens), len(step.tokens), self.limits)
            except LimitExceededError as exc:
                self.depth_error = exc
