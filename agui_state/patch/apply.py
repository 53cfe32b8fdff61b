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
"""

from __future__ import annotations

from typing import Any

from agui_state.errors import PatchError, short_repr
from agui_state.patch.ops import ParsedOp, parse_patch
from agui_state.patch.pointer import StepError, array_index, child, location, lookup
from agui_state.patch.values import clone_json, json_equal

__all__ = ["ABSENT", "Applier", "apply_patch"]


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


class Applier:
    """Applies operations one by one to a path-copied version of a document.

    ``root`` is the document so far; the input document is never mutated.
    :meth:`run` applies one parsed operation (as :func:`apply_patch` does);
    :meth:`add`, :meth:`remove` and :meth:`replace` are its structural steps,
    callable directly with a value the caller has made private to this
    application. Subclasses follow the changes through :meth:`on_step`.
    """

    __slots__ = ("owned", "root")

    def __init__(self, root: Any) -> None:
        self.root = root
        # id -> object for every container created by this application. The
        # values keep the objects alive, so their ids stay unique.
        self.owned: dict[int, Any] = {}

    def _own(self, container: Any) -> Any:
        """Return a version of ``container`` this application may mutate."""
        if id(container) in self.owned:
            return container
        mine = container.copy()
        self.owned[id(mine)] = mine
        return mine

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
            mine = self._own(nxt)
            if mine is not nxt:
                if isinstance(node, dict):
                    node[tokens[depth]] = mine
                else:
                    # child() accepted the token, so it is a valid index.
                    node[int(tokens[depth])] = mine
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
            parent[key] = value
            self.on_step(parent, key, old, value)
        else:
            index = array_index(
                key, len(parent), allow_end=True, tokens=tokens, depth=len(tokens) - 1
            )
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
            old = parent.pop(key)
            self.on_step(parent, key, old, ABSENT)
            return old
        index = array_index(key, len(parent), allow_end=False, tokens=tokens, depth=len(tokens) - 1)
        old = parent.pop(index)
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
            parent[key] = value
            self.on_step(parent, key, old, value)
        else:
            index = array_index(
                key, len(parent), allow_end=False, tokens=tokens, depth=len(tokens) - 1
            )
            old = parent[index]
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
