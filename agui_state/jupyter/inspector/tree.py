"""The State tab: a document as a flat list of visible tree rows, and search.

Python keeps which nodes are expanded and how many children each shows; the
browser gets only the rows currently visible (at most :data:`MAX_ROWS`), so
a 5 MB document never travels whole. Search walks the document once and
expands the parents of the first hits so they become visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agui_state.jupyter.frames.document import json_type
from agui_state.jupyter.inspector.values import pointer_join, preview
from agui_state.patch import parse_pointer

__all__ = [
    "CHILDREN_PAGE",
    "MAX_HITS",
    "MAX_ROWS",
    "SearchResult",
    "TreeView",
    "ancestors",
    "search",
]

CHILDREN_PAGE = 100
"""Children shown per container before a "show more" row."""

MAX_ROWS = 2000
"""Most rows sent to the browser at once."""

MAX_HITS = 500
"""Most search hits listed (all are counted)."""

EXPAND_HITS = 50
"""Search hits whose parents are expanded automatically."""


@dataclass
class SearchResult:
    """Where a query matched: pointers in document order.

    Attributes:
        query: The (case-insensitive) text searched for.
        hits: Pointers of matching nodes (key or scalar value), first :data:`MAX_HITS`.
        total: How many nodes matched in all.
    """

    query: str
    hits: list[str] = field(default_factory=list)
    total: int = 0


def ancestors(pointer: str) -> list[str]:
    """Return the pointers of every proper ancestor of ``pointer``, root first."""
    tokens = parse_pointer(pointer)
    out = [""]
    path = ""
    for token in tokens[:-1]:
        path = pointer_join(path, token)
        out.append(path)
    return out


def search(doc: Any, query: str, root: str = "") -> SearchResult:
    """Find nodes whose key or scalar value contains ``query`` (case-insensitive).

    Hits come in document order. Strings are compared lower-cased; numbers,
    booleans and null by their JSON text, and only when the query could
    match such text at all. Pointers are built only for containers (which
    are parents) and for hits, which keeps a 5 MB document within a few
    hundred milliseconds. Depth is bounded by the store's ``max_depth``
    (capped well below Python's recursion limit).
    """
    result = SearchResult(query)
    needle = query.lower()
    if not needle:
        return result
    hits = result.hits
    numeric = all(c in "0123456789.-+e" for c in needle)
    literals = [word for word in ("true", "false", "null") if needle in word]
    total = 0

    def scalar_hit(value: Any) -> bool:
        if value is True:
            return "true" in literals
        if value is False:
            return "false" in literals
        if value is None:
            return "null" in literals
        return numeric and needle in str(value).lower()

    def visit(path: str, node: Any) -> None:
        nonlocal total
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in pairs:
            if isinstance(key, str):
                token = (
                    key.replace("~", "~0").replace("/", "~1") if "~" in key or "/" in key else key
                )
                matched = needle in key.lower()
            else:
                token, matched = str(key), False
            if isinstance(value, (dict, list)):
                child = f"{path}/{token}"
                if matched:
                    total += 1
                    if len(hits) < MAX_HITS:
                        hits.append(child)
                visit(child, value)
                continue
            if not matched:
                is_text = isinstance(value, str)
                matched = needle in value.lower() if is_text else scalar_hit(value)
            if matched:
                total += 1
                if len(hits) < MAX_HITS:
                    hits.append(f"{path}/{token}")

    if isinstance(doc, (dict, list)):
        visit(root, doc)
    elif doc is not None or "null" in literals:
        text = doc.lower() if isinstance(doc, str) else None
        if (text is not None and needle in text) or (text is None and scalar_hit(doc)):
            total, hits[:] = 1, [root]
    result.total = total
    return result


class TreeView:
    """Which nodes of a document are expanded, and the rows that makes visible.

    The expansion state is kept by pointer, so it survives stepping from one
    version to the next (a node that no longer exists is simply skipped).
    """

    def __init__(self) -> None:
        self.expanded: set[str] = {""}
        self.limits: dict[str, int] = {}
        self.hits: set[str] = set()

    def toggle(self, pointer: str) -> None:
        """Expand a collapsed node or collapse an expanded one."""
        if pointer in self.expanded:
            self.expanded.discard(pointer)
        else:
            self.expanded.add(pointer)

    def show_more(self, pointer: str) -> None:
        """Show another page of the children of ``pointer``."""
        self.limits[pointer] = self.limits.get(pointer, CHILDREN_PAGE) + CHILDREN_PAGE

    def reveal(self, result: SearchResult) -> None:
        """Mark ``result``'s hits and expand the parents of the first ones."""
        self.hits = set(result.hits)
        for pointer in result.hits[:EXPAND_HITS]:
            chain = ancestors(pointer) if pointer else []
            self.expanded.update(chain)
            # An array element past the page limit is made visible too.
            for parent, node in zip(chain, [*chain[1:], pointer], strict=True):
                last = node.rsplit("/", 1)[-1]
                if last.isdigit():
                    need = min(int(last) + 1, MAX_ROWS)
                    self.limits[parent] = max(self.limits.get(parent, CHILDREN_PAGE), need)

    def rows(self, doc: Any, root: str = "") -> tuple[list[dict[str, Any]], bool]:
        """Return the visible rows of ``doc`` (shown from ``root``) and whether they were cut.

        Each row: ``path`` (pointer), ``key``, ``depth``, ``kind``, ``size``
        (children of a container, else None), ``value`` (text preview),
        ``expanded``, ``match``; a ``kind == "more"`` row stands for
        ``size`` further children of its parent ``path``.
        """
        rows: list[dict[str, Any]] = []
        key = root.rsplit("/", 1)[-1] if root else "(root)"
        key = key.replace("~1", "/").replace("~0", "~")
        stack: list[tuple[str, str, int, Any]] = [(root, key, 0, doc)]
        while stack:
            if len(rows) >= MAX_ROWS:
                return rows, True
            path, name, depth, value = stack.pop()
            if name == "\0more":
                rows.append(
                    {
                        "path": path,
                        "key": "",
                        "depth": depth,
                        "kind": "more",
                        "size": value,
                        "value": f"… {value} more",
                        "expanded": False,
                        "match": False,
                    }
                )
                continue
            container = isinstance(value, (dict, list))
            is_open = container and path in self.expanded
            rows.append(
                {
                    "path": path,
                    "key": name,
                    "depth": depth,
                    "kind": json_type(value),
                    "size": len(value) if container else None,
                    "value": _summary(value) if container else preview(value),
                    "expanded": is_open,
                    "match": path in self.hits,
                }
            )
            if not is_open:
                continue
            limit = self.limits.get(path, CHILDREN_PAGE)
            items: list[tuple[str, Any]]
            if isinstance(value, dict):
                items = []
                for i, (k, v) in enumerate(value.items()):
                    if i >= limit:
                        break
                    items.append((k, v))
            else:
                items = [(str(i), v) for i, v in enumerate(value[:limit])]
            rest = len(value) - len(items)
            if rest > 0:
                stack.append((path, "\0more", depth + 1, rest))
            for k, v in reversed(items):
                stack.append((pointer_join(path, k), k, depth + 1, v))
        return rows, False


def _summary(value: dict[str, Any] | list[Any]) -> str:
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}" if len(value) != 1 else "{1 key}"
    return f"[{len(value)} items]" if len(value) != 1 else "[1 item]"
