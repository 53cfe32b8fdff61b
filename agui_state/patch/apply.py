"""Applying a JSON Patch with structural sharing (path copying).

Documents are treated as immutable values: a state's old versions share most
of their structure with the new ones, so nothing reachable from the input may
ever be mutated. Instead of deep-copying the whole document (O(document) per
write, which is what ``jsonpatch`` does by default), each operation
shallow-copies only the dicts and lists on the path it touches and writes into
those copies; everything else in the result is the very same object as in the
input. A one-op patch thus costs O(path depth x container width) plus the size
of the inserted value, whatever the size of the document.

Within one patch, a container already copied by an earlier operation belongs
to this application alone, so later operations mutate it in place instead of
copying it again. Ownership is tracked by ``id()``; the owned objects are kept
referenced so an id can never be recycled for another object while we rely
on it.

:class:`Applier` is public for one reason: a caller that must follow every
change (the store keeps the document's JSON size up to date in O(delta))
subclasses it and overrides :meth:`Applier.on_step`, which the engine calls
after each structural change with the container, key, old and new value.

Atomicity comes for free: the input is never modified, so a failing
operation just abandons the partial copies and the caller still holds the
unchanged document.

**In place, when nobody else can see it** (``Applier(root, in_place=True)``).
Path copying costs O(width) per container on the path: appending to a
100,000-element list copies 100,000 pointers. A caller that holds the only
reference to ``root`` (the store, to its current document) may ask the
applier to write into the existing containers instead, for each container
on the path that no one else references: the root, then every child whose
reference count shows that only its (in-place) parent holds it. CPython's
reference count is exact, so a container shared with an older version, a
snapshot, a checkpoint, a delta, a transaction or a reader's local variable
is never written: it is path-copied as usual. Every in-place change is
logged, and :meth:`Applier.undo` reverts them exactly (order of object keys
included), so the caller keeps atomicity by undoing when the patch, or
anything after it, fails. Without reference counts (another Python, or a
build without the GIL), ``in_place`` is ignored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from agui_state.errors import PatchError, short_repr
from agui_state.patch.ops import ParsedOp, parse_patch
from agui_state.patch.pointer import StepError, array_index, child, location, lookup
from agui_state.patch.values import clone_json, json_equal

__all__ = ["ABSENT", "Applier", "apply_patch", "untraced"]


def apply_patch(doc: Any, patch: Any) -> Any:
    """Apply an RFC 6902 JSON Patch to ``doc`` and return the new document.

    The patch applies whole or not at all, and ``doc`` is never mutated. The
    result shares every subtree the patch does not touch with ``doc``
    (structural sharing), so treat both as read-only. Values taken from the
    patch are deep-copied, so mutating the patch afterwards cannot change the
    result. An empty (or test-only) patch returns ``doc`` itself.

    Args:
        doc: A JSON document (usually an object).
        patch: A sequence of operation mappings (see :func:`validate_patch`).

    Returns:
        The patched document.

    Raises:
        PatchError: The patch is malformed or an operation fails (missing
            member, index out of range, failed ``test``, move into a child...).
            ``index``, ``op`` and ``path`` name the operation; ``reason``
            says why. ``doc`` is unchanged.
    """
    ops = parse_patch(patch, copy_values=True)
    if not ops:
        return doc
    applier = Applier(doc)
    for op in ops:
        try:
            applier.run(op)
        except StepError as exc:
            raise PatchError(exc.reason, index=op.position, op=op.op, path=op.path) from None
    return applier.root


def _container(value: Any) -> bool:
    return isinstance(value, (dict, list))


class _Absent:
    """The type of :data:`ABSENT`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""The old value :meth:`Applier.on_step` gets for an insertion, the new one for a removal."""


def untraced(measure: Callable[[], int]) -> int:
    """Run a reference-count calibration with no trace or profile function installed.

    A debugger's trace function that reads ``frame.f_locals`` (pdb, debugpy)
    adds a reference to every local variable: a threshold measured under it
    would be one too high, and later, untraced, a container someone else
    holds would look unshared. Measured untraced, the thresholds can only
    err the safe way (a traced write copies).
    """
    tracer, profiler = sys.gettrace(), sys.getprofile()
    sys.settrace(None)
    sys.setprofile(None)
    try:
        return measure()
    finally:
        sys.settrace(tracer)
        sys.setprofile(profiler)


def _child_refs() -> int:
    """The reference count of a container held only by its parent, as ``_writable_parent`` sees it.

    Measured, not assumed: the parent's slot, the local variable and the
    call's own argument, whatever this interpreter version counts for them.
    """
    parent: list[list[Any]] = [[]]
    nxt = parent[0]
    return sys.getrefcount(nxt)


# In-place writes need exact reference counts and the GIL (which keeps
# another thread from taking a reference between the check and the write).
_REFCOUNTED = hasattr(sys, "getrefcount") and getattr(sys, "_is_gil_enabled", lambda: True)()
_SOLE_CHILD = untraced(_child_refs) if _REFCOUNTED else 0


class Applier:
    """Applies operations one by one to a path-copied version of a document.

    ``root`` is the document so far. :meth:`run` applies one parsed operation
    (as :func:`apply_patch` does); :meth:`add`, :meth:`remove` and
    :meth:`replace` are its structural steps, callable directly with a value
    the caller has made private to this application. Subclasses follow the
    changes through :meth:`on_step`.

    Args:
        root: The document. Never mutated, unless ``in_place``.
        in_place: The caller holds the only reference to ``root`` (see the
            module docstring): containers nobody else references are written
            in place, and :meth:`undo` reverts those writes. Ignored where
            reference counts are not exact.
    """

    __slots__ = ("owned", "reused", "root", "undo_log")

    def __init__(self, root: Any, *, in_place: bool = False) -> None:
        self.root = root
        # id -> object for every container this application may write. The
        # values keep the objects alive, so their ids stay unique.
        self.owned: dict[int, Any] = {}
        # ids of the pre-existing containers written in place (their changes are logged).
        self.reused: set[int] | None = None
        # What undo() replays backwards; None when not writing in place.
        self.undo_log: list[tuple[Any, ...]] | None = None
        if in_place and _REFCOUNTED and _container(root):
            self.undo_log = []
            self.reused = {id(root)}
            self.owned[id(root)] = root

    def _own(self, container: Any) -> Any:
        """Return a version of ``container`` this application may mutate."""
        if id(container) in self.owned:
            return container
        mine = container.copy()
        self.owned[id(mine)] = mine
        return mine

    def undo(self) -> None:
        """Revert every in-place write, newest first (nothing to do without ``in_place``).

        Afterwards the input document is exactly as it was, key order
        included. Containers created by copying are simply abandoned.
        """
        log = self.undo_log
        if not log:
            return
        while log:
            entry = log.pop()
            kind, container = entry[0], entry[1]
            if kind == "set":  # a member or element written: put the old value back
                key, old = entry[2], entry[3]
                if old is ABSENT:
                    del container[key]
                else:
                    container[key] = old
            elif kind == "insert":  # an element inserted into a list
                del container[entry[2]]
            elif kind == "pop":  # an element removed from a list
                container.insert(entry[2], entry[3])
            else:  # "members": a member removed from an object; restore the order too
                container.clear()
                container.update(entry[2])

    def _log(self, parent: Any, entry: tuple[Any, ...]) -> None:
        """Record an in-place change of ``parent`` (a pre-existing container) for :meth:`undo`."""
        reused = self.reused
        if reused is not None and id(parent) in reused:
            assert self.undo_log is not None
            self.undo_log.append(entry)

    def _writable_parent(self, tokens: list[str]) -> Any:
        """Path-copy down to the parent of ``tokens[-1]`` and return that parent.

        Every container from the root to the parent becomes owned and is
        linked into its (owned) parent, so writing into the returned
        container changes only the result.
        """
        node = self.root
        if not _container(node):
            raise StepError(
                f"cannot look up {tokens[0]!r} in a {type(node).__name__} value "
                f"(at {location(tokens, 0)}): only objects and arrays have children"
            )
        node = self._own(node)
        self.root = node
        for depth in range(len(tokens) - 1):
            nxt = child(node, tokens, depth)
            if not _container(nxt):
                raise StepError(
                    f"cannot look up {tokens[depth + 1]!r} in a {type(nxt).__name__} value "
                    f"(at {location(tokens, depth + 1)}): only objects and arrays have children"
                )
            reused = self.reused
            if (
                reused is not None
                and id(node) in reused
                and id(nxt) not in self.owned
                and sys.getrefcount(nxt) <= _SOLE_CHILD
            ):
                # Only ``node`` (written in place itself) holds it: write in place too.
                reused.add(id(nxt))
                self.owned[id(nxt)] = nxt
                node = nxt
                continue
            mine = self._own(nxt)
            if mine is not nxt:
                key: str | int = tokens[depth] if isinstance(node, dict) else int(tokens[depth])
                # child() accepted the token, so an index is valid.
                self._log(node, ("set", node, key, nxt))
                node[key] = mine
            node = mine
        return node

    def on_step(self, parent: Any, key: str | int | None, old: Any, new: Any) -> None:
        """Called after each structural change; does nothing here (a hook for subclasses).

        Args:
            parent: The (already changed) dict or list the change happened
                in, or None when the whole document was replaced.
            key: The member name (dict) or index (list), None for the root.
            old: The value there before, :data:`ABSENT` for an insertion.
            new: The value there now, :data:`ABSENT` for a removal.

        A ``move`` is a removal then an insertion of the same value; a
        ``copy`` an insertion of a fresh copy; ``test`` changes nothing.
        """

    def _claim(self, value: Any) -> Any:
        """Mark a freshly built container as owned, so later ops write in place."""
        if _container(value):
            self.owned[id(value)] = value
        return value

    def add(self, tokens: list[str], value: Any) -> None:
        """Insert ``value`` (already private to us) at ``tokens``."""
        if not tokens:
            old, self.root = self.root, value
            self.on_step(None, None, old, value)
            return
        parent = self._writable_parent(tokens)
        key = tokens[-1]
        if isinstance(parent, dict):
            old = parent.get(key, ABSENT)
            self._log(parent, ("set", parent, key, old))
            parent[key] = value
            self.on_step(parent, key, old, value)
        else:
            index = array_index(
                key, len(parent), allow_end=True, tokens=tokens, depth=len(tokens) - 1
            )
            self._log(parent, ("insert", parent, index))
            parent.insert(index, value)
            self.on_step(parent, index, ABSENT, value)

    def remove(self, tokens: list[str]) -> Any:
        """Remove and return the value at ``tokens``."""
        if not tokens:
            raise StepError("cannot remove the document root")
        parent = self._writable_parent(tokens)
        key = tokens[-1]
        if isinstance(parent, dict):
            if key not in parent:
                raise StepError(
                    f"member {key!r} not found in the object at {location(tokens, len(tokens) - 1)}"
                )
            if self.reused is not None and id(parent) in self.reused:
                # Popping and re-adding would move the member to the end.
                self._log(parent, ("members", parent, list(parent.items())))
            old = parent.pop(key)
            self.on_step(parent, key, old, ABSENT)
            return old
        index = array_index(key, len(parent), allow_end=False, tokens=tokens, depth=len(tokens) - 1)
        old = parent.pop(index)
        self._log(parent, ("pop", parent, index, old))
        self.on_step(parent, index, old, ABSENT)
        return old

    def replace(self, tokens: list[str], value: Any) -> None:
        """Replace the existing value at ``tokens`` with ``value``."""
        if not tokens:
            old, self.root = self.root, value
            self.on_step(None, None, old, value)
            return
        parent = self._writable_parent(tokens)
        key = tokens[-1]
        if isinstance(parent, dict):
            if key not in parent:
                raise StepError(
                    f"member {key!r} not found in the object at {location(tokens, len(tokens) - 1)}"
                )
            old = parent[key]
            self._log(parent, ("set", parent, key, old))
            parent[key] = value
            self.on_step(parent, key, old, value)
        else:
            index = array_index(
                key, len(parent), allow_end=False, tokens=tokens, depth=len(tokens) - 1
            )
            old = parent[index]
            self._log(parent, ("set", parent, index, old))
            parent[index] = value
            self.on_step(parent, index, old, value)

    def run(self, op: ParsedOp) -> None:
        """Apply one operation. Raises StepError on failure."""
        name = op.op
        if name == "add":
            # The value was cloned for this application by parse_patch.
            self.add(op.tokens, self._claim(op.value))
        elif name == "replace":
            self.replace(op.tokens, self._claim(op.value))
        elif name == "remove":
            self.remove(op.tokens)
        elif name == "test":
            found = lookup(self.root, op.tokens)
            if not json_equal(found, op.value):
                raise StepError(
                    f"test failed: expected {short_repr(op.value)}, found {short_repr(found)}"
                )
        elif name == "move":
            self._move(op)
        else:  # copy
            assert op.from_tokens is not None
            try:
                value = lookup(self.root, op.from_tokens)
            except StepError as exc:
                raise StepError(f"from {op.from_path!r}: {exc.reason}") from None
            # A deep copy: sharing the subtree would let a later op of this
            # patch, writing in place into an owned container, change both places.
            self.add(op.tokens, self._claim(clone_json(value)))

    def _move(self, op: ParsedOp) -> None:
        source = op.from_tokens
        assert source is not None
        target = op.tokens
        if len(source) < len(target) and target[: len(source)] == source:
            raise StepError(f"cannot move {op.from_path!r} into its own child {op.path!r}")
        if source == target:
            # A move onto itself changes nothing, but the source must exist.
            try:
                lookup(self.root, source)
            except StepError as exc:
                raise StepError(f"from {op.from_path!r}: {exc.reason}") from None
            return
        try:
            value = self.remove(source)
        except StepError as exc:
            raise StepError(f"from {op.from_path!r}: {exc.reason}") from None
        # RFC 6902 4.4: a remove at "from" followed by an add at "path", so
        # "path" is interpreted in the document with the value removed. The
        # moved value keeps its identity (no copy): it now lives only here.
        self.add(target, value)
