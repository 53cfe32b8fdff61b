"""``diff``: the change between two versions (or a snapshot and a version) of a state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agui_state.cards import card, document_details, escape, json_text
from agui_state.errors import NotFoundError, ValidationError
from agui_state.jupyter.frames.build import build_frame
from agui_state.jupyter.source import StateSource, borrow
from agui_state.models import State, StateSnapshot, StateVersion
from agui_state.patch import apply_patch, parse_pointer
from agui_state.patch import diff as patch_diff
from agui_state.patch.pointer import StepError, lookup
from agui_state.patch.summary import summarize_ops

__all__ = ["DIFF_COLUMNS", "StateDiff", "diff"]

DIFF_COLUMNS = ("op", "path", "old", "new")
_MISSING: Any = object()
_CELL_CHARS = 2_000  # JSON characters shown per table cell


def _value_at(doc: Any, path: str) -> Any:
    try:
        return lookup(doc, parse_pointer(path))
    except StepError:
        return _MISSING


@dataclass(frozen=True)
class _Side:
    label: str
    version: int
    state: State


@dataclass(frozen=True)
class StateDiff:
    """The change from one document of a state to another.

    Attributes:
        state_id: The state.
        old_label: What the old side is (``"version 3"``, ``"snapshot 'before'"``).
        new_label: What the new side is.
        old_version: The version number of the old side.
        new_version: The version number of the new side.
        old: The old document (read-only).
        new: The new document (read-only).
        ops: The RFC 6902 patch turning ``old`` into ``new`` (``add``,
            ``remove`` and ``replace`` only; ``[]`` when they are equal).
    """

    state_id: str
    old_label: str
    new_label: str
    old_version: int
    new_version: int
    old: State
    new: State
    ops: list[dict[str, Any]]

    @property
    def summary(self) -> str:
        """One line: the operations, e.g. ``"replace /cart/total, add /cart/items/-"``."""
        return summarize_ops(self.ops)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per operation: ``op``, ``path``, ``old`` and ``new`` value at ``path``.

        Each operation is looked at in the document as the previous operations
        left it, so ``old`` is what that operation replaced or removed and
        ``new`` what it put there (``None`` when there is nothing).
        """
        out: list[dict[str, Any]] = []
        doc: Any = self.old
        for op in self.ops:
            path = op["path"]
            before = _value_at(doc, path)
            doc = apply_patch(doc, [op])
            after = _value_at(doc, path) if op["op"] != "remove" else _MISSING
            out.append(
                {
                    "op": op["op"],
                    "path": path,
                    "old": None if before is _MISSING else before,
                    "new": None if after is _MISSING else after,
                }
            )
        return out

    def to_frame(self) -> Any:
        """Return the operations as a DataFrame with columns ``op``, ``path``, ``old``, ``new``."""
        return build_frame(DIFF_COLUMNS, self.rows())

    def __repr__(self) -> str:
        return (
            f"StateDiff(state_id={self.state_id!r}, {self.old_label} -> {self.new_label}, "
            f"ops={len(self.ops)}: {self.summary})"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        head = (
            '<tr><th style="text-align:left">op</th><th style="text-align:left">path</th>'
            f'<th style="text-align:left">{escape(self.old_label)}</th>'
            f'<th style="text-align:left">{escape(self.new_label)}</th></tr>'
        )
        cells = []
        for row in self.rows():
            old = "" if row["old"] is None and row["op"] == "add" else _cell(row["old"])
            new = "" if row["op"] == "remove" else _cell(row["new"])
            cells.append(
                f'<tr><td style="text-align:left">{escape(row["op"])}</td>'
                f'<td style="text-align:left"><code>{escape(row["path"])}</code></td>'
                f'<td style="text-align:left;background:#fdecea">{old}</td>'
                f'<td style="text-align:left;background:#e6f4ea">{new}</td></tr>'
            )
        table = (
            f'<table style="border-collapse:collapse;margin:4px 0">{head}{"".join(cells)}</table>'
            if cells
            else "<div><i>no change</i></div>"
        )
        docs = (
            '<div style="display:flex;gap:8px;flex-wrap:wrap">'
            f"<div>{document_details(self.old, self.old_label)}</div>"
            f"<div>{document_details(self.new, self.new_label)}</div></div>"
        )
        fields = [
            ("state", self.state_id),
            ("from", self.old_label),
            ("to", self.new_label),
            ("ops", f"{len(self.ops)}: {self.summary}"),
        ]
        return card("StateDiff", fields, table + docs)


def _cell(value: Any) -> str:
    text = escape(json_text(value, limit=_CELL_CHARS))
    return f'<pre style="margin:0;white-space:pre-wrap">{text}</pre>'


def _side(src: StateSource, state_id: str, ref: Any, argument: str) -> tuple[_Side, bool]:
    """Resolve a version number, snapshot id, version id or object; True when a snapshot."""
    if isinstance(ref, StateSnapshot):
        return _Side(f"snapshot {ref.label or ref.id!r}", ref.version, ref.state), True
    if isinstance(ref, StateVersion):
        ref = ref.number
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise ValidationError(
            argument, f"must be a version number, a snapshot id or a version id, got {ref!r}"
        )
    if isinstance(ref, int):
        return _Side(f"version {ref}", ref, src.state_at(state_id, ref)), False
    try:
        snap = src.get_snapshot(state_id, ref)
    except NotFoundError:
        pass
    else:
        return _Side(f"snapshot {snap.label or snap.id!r}", snap.version, snap.state), True
    try:
        number = src.get_version(state_id, ref).number
    except NotFoundError:
        raise NotFoundError("snapshot or version", state_id, ref) from None
    return _Side(f"version {number}", number, src.state_at(state_id, number)), False


def diff(source: Any, state_id: str | None, a: Any, b: Any = None) -> StateDiff:
    """Return the change from ``a`` to ``b`` in one state.

    Args:
        source: A storage URL, backend, persistent store, store or StateSource.
        state_id: The state (``None``: the store's own state).
        a: The old side: a version number, a snapshot id, a version id, or
            a :class:`StateVersion` / :class:`StateSnapshot`.
        b: The new side, the same kinds. ``None``: when ``a`` is a version,
            ``a``'s parent to ``a`` (what version ``a`` changed); when ``a`` is
            a snapshot, the snapshot to the current state (what changed since).

    Returns:
        A :class:`StateDiff`: ``.ops`` (RFC 6902), ``.to_frame()``, and a
        side-by-side HTML display.

    Raises:
        NotFoundError: Unknown state, version or snapshot (named).
        ValidationError: ``a`` or ``b`` of the wrong type, ``a`` is version 0
            without ``b`` (it has no parent), or a bad source.

    Example:
        >>> from agui_state import StateStore
        >>> store = StateStore("t1")
        >>> _ = store.set("/cart", {"total": 3})
        >>> _ = store.set("/cart/total", 5)
        >>> diff(store, None, 2).ops
        [{'op': 'replace', 'path': '/cart/total', 'value': 5}]
    """
    with borrow(source) as src:
        sid = src.resolve_state_id(state_id)
        src.head_version(sid)  # an unknown state is reported as a state
        first, is_snapshot = _side(src, sid, a, "a")
        if b is not None:
            old, new = first, _side(src, sid, b, "b")[0]
        elif is_snapshot:
            head = src.head_version(sid)
            old, new = first, _Side(f"version {head}", head, src.get_state(sid))
        else:
            if first.version == 0:
                raise ValidationError("a", "version 0 has no parent: pass b to compare with it")
            parent = first.version - 1
            old, new = _Side(f"version {parent}", parent, src.state_at(sid, parent)), first
    return StateDiff(
        sid,
        old.label,
        new.label,
        old.version,
        new.version,
        old.state,
        new.state,
        patch_diff(old.state, new.state),
    )
