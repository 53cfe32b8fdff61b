"""``blame``: for each leaf of a document, the version that set its current value.

Like ``git blame`` for a JSON document. The stored history is replayed
operation by operation next to a *provenance tree* that mirrors the
document: each node records the version that put it there. A subtree
written at once (``add``/``replace``/``copy`` of an object) is one node until
a later operation goes inside it, and is then split one level at a time, so
each operation costs O(path depth + siblings on the path), never O(document).

What "set" means:

* ``add``, ``replace`` and ``copy`` set every leaf of the value they write
  (replacing with an equal value still counts: that version wrote it);
* ``remove`` drops the leaves; elements after it in an array keep their
  provenance as they shift (so do elements shifted by an ``add``);
* ``move`` carries the provenance of the values it moves, like a shift:
  the version that wrote a value is still its author after it is moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agui_state.errors import CorruptDataError, InvalidPathError, NotFoundError
from agui_state.jupyter.frames.build import build_frame, run_id_of
from agui_state.jupyter.frames.document import leaves
from agui_state.jupyter.ops import tokens_of
from agui_state.jupyter.replay import apply_delta, start
from agui_state.jupyter.source import borrow, check_version_number
from agui_state.models import StateVersion
from agui_state.patch import apply_patch, format_pointer
from agui_state.patch.pointer import StepError, lookup

__all__ = ["BLAME_COLUMNS", "blame"]

BLAME_COLUMNS = ("path", "value", "version", "run_id", "timestamp")


class _Node:
    """Provenance of a subtree: ``version`` for all of it, unless ``kids`` splits it."""

    __slots__ = ("kids", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.kids: dict[str, _Node] | list[_Node] | None = None

    def split(self, value: Any) -> dict[str, _Node] | list[_Node] | None:
        """Give each child of ``value`` its own node (same version) the first time it is needed."""
        if self.kids is None:
            if isinstance(value, dict):
                self.kids = {key: _Node(self.version) for key in value}
            elif isinstance(value, list):
                self.kids = [_Node(self.version) for _ in value]
        return self.kids


class _Tree:
    """The provenance tree of one document, updated operation by operation."""

    def __init__(self, version: int) -> None:
        self.root = _Node(version)

    def _parent(self, doc: Any, tokens: list[str]) -> tuple[dict[str, _Node] | list[_Node], Any]:
        """Return (provenance kids, document value) of the container holding ``tokens[-1]``."""
        node, value = self.root, doc
        for token in tokens[:-1]:
            kids = node.split(value)
            if isinstance(kids, dict):
                node, value = kids[token], value[token]
            elif isinstance(kids, list):
                node, value = kids[int(token)], value[int(token)]
            else:
                raise StepError(f"no container at {token!r}")
        kids = node.split(value)
        if kids is None:
            raise StepError("not a container")
        return kids, value

    def put(self, doc: Any, tokens: list[str], node: _Node, *, insert: bool) -> None:
        if not tokens:
            self.root = node
            return
        kids, value = self._parent(doc, tokens)
        last = tokens[-1]
        if isinstance(kids, list):
            index = len(value) if last == "-" else int(last)
            if insert:
                kids.insert(index, node)
            else:
                kids[index] = node
        else:
            kids[last] = node

    def take(self, doc: Any, tokens: list[str]) -> _Node:
        if not tokens:
            node = self.root
            self.root = _Node(node.version)
            return node
        kids, _ = self._parent(doc, tokens)
        if isinstance(kids, list):
            return kids.pop(int(tokens[-1]))
        return kids.pop(tokens[-1])

    def apply(self, doc: Any, op: dict[str, Any], number: int) -> None:
        """Update provenance for ``op`` applied by version ``number`` to ``doc`` (before it)."""
        name = op["op"]
        tokens = tokens_of(op["path"])
        if name in ("add", "copy"):
            self.put(doc, tokens, _Node(number), insert=True)
        elif name == "replace":
            self.put(doc, tokens, _Node(number), insert=False)
        elif name == "remove":
            self.take(doc, tokens)
        elif name == "move":
            source = tokens_of(op["from"])
            if source == tokens:
                return
            moved = self.take(doc, source)
            # The target is resolved in the document with the source removed.
            rest = apply_patch(doc, [{"op": "remove", "path": op["from"]}])
            self.put(rest, tokens, moved, insert=True)

    def walk(self, doc: Any, tokens: list[str]) -> Iterator[tuple[list[str], int]]:
        """Yield ``(leaf tokens, version)`` under ``tokens``, in document order."""
        node, value = self.root, doc
        for token in tokens:
            kids = node.split(value)
            if isinstance(kids, dict):
                node, value = kids[token], value[token]
            elif isinstance(kids, list):
                node, value = kids[int(token)], value[int(token)]
        yield from self._leaves(node, value, list(tokens))

    def _leaves(self, node: _Node, value: Any, at: list[str]) -> Iterator[tuple[list[str], int]]:
        if node.kids is None or not value:
            for rel, _ in leaves(value):
                yield at + rel, node.version
            return
        if isinstance(node.kids, dict):
            for key, kid in node.kids.items():
                yield from self._leaves(kid, value[key], [*at, key])
        else:
            for index, kid in enumerate(node.kids):
                yield from self._leaves(kid, value[index], [*at, str(index)])


def blame(source: Any, state_id: str | None, path: str = "", *, version: int | None = None) -> Any:
    """Return, for each leaf under ``path``, the version, run and time that set its value.

    Replays the stored history from its start to ``version`` (see the module
    docstring for what counts as setting a value). Leaves are scalars and
    empty objects or arrays. A leaf that was already there where the stored
    history starts (after pruning: the oldest stored version) is blamed on
    that start, with no run or time when it is version 0.

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
        state_id: The state (``None``: the store's own state).
        path: The JSON Pointer of the subtree to blame (``""``: everything).
        version: Blame the document as it was at this version (default: head).

    Returns:
        Columns ``path``, ``value``, ``version``, ``run_id``, ``timestamp``
        (UTC; NaT for version 0), one row per leaf in document order.

    Raises:
        NotFoundError: Unknown state, or ``version`` out of range or pruned.
        InvalidPathError: ``path`` is malformed or absent at that version.
        ValidationError: A bad ``version`` or source.

    Example:
        >>> from agui_state import StateStore
        >>> store = StateStore("t1")
        >>> _ = store.set("/items", ["a", "b"], metadata={"run_id": "run-1"})
        >>> _ = store.apply_patch([{"op": "add", "path": "/items/0", "value": "z"}])
        >>> blame(store, None)[["path", "value", "version"]].values.tolist()
        [['/items/0', 'z', 2], ['/items/1', 'a', 1], ['/items/2', 'b', 1]]
    """
    tokens = tokens_of(path)
    with borrow(source) as src:
        sid = src.resolve_state_id(state_id)
        head = src.head_version(sid)
        until = head if version is None else check_version_number(version, "version")
        if until > head:
            raise NotFoundError("version", sid, until)
        base, doc = start(src, sid)
        if until < base:
            raise NotFoundError("version", sid, until)
        tree = _Tree(base)
        seen: dict[int, StateVersion] = {}
        if base > 0:  # a pruned start: its own version is still stored
            seen[base] = src.get_version(sid, base).without_checkpoint()
        for stored in src.iter_versions(sid, after=base, until=until):
            for index, op in enumerate(stored.delta):
                try:
                    tree.apply(doc, op, stored.number)
                except (StepError, KeyError, IndexError, ValueError) as exc:
                    raise CorruptDataError(
                        f"state {sid!r} version {stored.number}",
                        f"operation {index} does not replay: {exc}",
                    ) from exc
                doc = apply_delta(sid, doc, _only(stored, op))
            seen[stored.number] = stored.without_checkpoint()
        try:
            lookup(doc, tokens)
        except StepError as exc:
            raise InvalidPathError(path, f"{exc.reason} (at version {until})") from None
        rows = []
        for leaf, number in tree.walk(doc, tokens):
            meta = seen.get(number)
            rows.append(
                {
                    "path": format_pointer(leaf),
                    "value": lookup(doc, leaf),
                    "version": number,
                    "run_id": run_id_of(meta) if meta is not None else None,
                    "timestamp": meta.timestamp if meta is not None else None,
                }
            )
    return build_frame(BLAME_COLUMNS, rows, timestamps=("timestamp",), integers=("version",))


def _only(version: StateVersion, op: dict[str, Any]) -> StateVersion:
    """``version`` with a one-operation delta (for error messages naming the version)."""
    return StateVersion(
        version.id, version.state_id, version.number, version.parent_id, version.timestamp, [op]
    )
