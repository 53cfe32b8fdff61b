"""The inspector's Python side: selection, caches and every computed view.

:class:`Inspection` knows nothing about widgets: it turns a selection (state,
version, filters, search, pin, tab) into plain JSON-ready dicts, which the
widget copies into synced traits. Only the active tab is computed, so
stepping through versions costs one time-travel read plus the visible rows.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from itertools import islice
from typing import Any

from agui_state import InvalidPathError, NotFoundError, ValidationError
from agui_state.jupyter.inspector.diffing import diff_rows
from agui_state.jupyter.inspector.log import LogFilter, log_page, run_id_of
from agui_state.jupyter.inspector.reader import Reader
from agui_state.jupyter.inspector.travel import document_at
from agui_state.jupyter.inspector.tree import SearchResult, TreeView, search
from agui_state.jupyter.inspector.values import preview
from agui_state.jupyter.ops import touched_paths
from agui_state.patch import apply_patch, resolve

__all__ = ["STATES_PAGE", "TABS", "Inspection"]

STATES_PAGE = 50
"""State ids per page of the states pane."""

TABS = ("state", "diff", "patch", "snapshots", "stats")

_CACHE = 6
"""Documents kept by version number (the selected one, its parent, a diff pair)."""

_ANCHORS = 3
"""Checkpoint documents kept (each was one parse of a whole stored document)."""

_PLOT_POINTS = 60
"""Versions sampled for the versions-over-time plot."""

_SIZE_POINTS = 16
"""Versions sampled for the size-over-versions plot (each is a time-travel read)."""


def _json_size(doc: Any) -> int:
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())


class Inspection:
    """Everything the inspector shows about one source (see module docstring).

    Args:
        reader: Read access to the source.
    """

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.state_id: str | None = None
        self.head = 0
        self.version = 0
        self.diff_from: int | None = None
        self.tab = "state"
        self.pinned = ""
        self.query = ""
        self.filter = LogFilter()
        self.tree = TreeView()
        self.search_result = SearchResult("")
        self.states_filter = ""
        self.states_page = 0
        self.log_before: int | None = None
        self.snapshot_id: str | None = None
        self.snapshot_against = "head"
        self._docs: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._anchors: OrderedDict[int, dict[str, Any]] = OrderedDict()
        # (state id, head) -> time of the head version, from log pages: reading
        # a head version again can mean parsing a checkpoint (MBs) again.
        self._updated: dict[tuple[str, int], str] = {}

    # ------------------------------------------------------------ states pane
    def states(self) -> dict[str, Any]:
        """Return one page of state ids matching the filter, with head and last update.

        Ids are streamed from the backend's paged index; only this page's
        states are read (head and newest version).
        """
        needle = self.states_filter.lower()
        ids = (s for s in self.reader.iter_state_ids() if needle in s.lower())
        start = self.states_page * STATES_PAGE
        chunk = list(islice(ids, start, start + STATES_PAGE + 1))
        items = []
        for sid in chunk[:STATES_PAGE]:
            try:
                head = self.reader.head_version(sid)
                updated = self._updated.get((sid, head), "")
                if head > 0 and not updated:
                    last = self.reader.history_page(sid, 1)
                    if last:
                        updated = last[0].timestamp.strftime("%Y-%m-%d %H:%M:%S")
                        self._updated[(sid, head)] = updated
            except NotFoundError:
                continue  # deleted while listing
            items.append({"state_id": sid, "head": head, "updated": updated})
        return {
            "items": items,
            "page": self.states_page,
            "has_more": len(chunk) > STATES_PAGE,
            "filter": self.states_filter,
        }

    # ------------------------------------------------------------- selection
    def select_state(self, state_id: str) -> None:
        """Select a state and jump to its head version."""
        head = self.reader.head_version(state_id)
        self.state_id = state_id
        self.head = head
        self.version = head
        self.diff_from = None
        self.log_before = None
        self.snapshot_id = None
        self._docs.clear()
        self._anchors.clear()
        self.tree = TreeView()

    def refresh_head(self) -> bool:
        """Re-read the head; return True when it moved (the view follows it if at head)."""
        if self.state_id is None:
            return False
        self.reader.flush()
        head = self.reader.head_version(self.state_id)
        if head == self.head:
            return False
        at_head = self.version == self.head
        self.head = head
        if at_head or self.version > head:
            self.version = head
        return True

    def select_version(self, number: int) -> None:
        """Select a version (0..head) for the tabs.

        Raises:
            ValidationError: No state selected, or ``number`` out of range.
        """
        if self.state_id is None:
            raise ValidationError("version", "select a state first")
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= self.head:
            raise ValidationError(
                "version", f"must be a version number from 0 to {self.head}, got {number!r}"
            )
        self.version = number

    def document(self, number: int) -> dict[str, Any]:
        """Return the document at ``number`` (cached; never modify it)."""
        assert self.state_id is not None
        doc = self._docs.get(number)
        if doc is None:
            doc = self._anchors.get(number)
        if doc is None:
            known = {**self._anchors, **self._docs}
            doc = document_at(self.reader, self.state_id, number, self.head, known, self._keep)
            self._keep(number, doc)
        elif number in self._docs:
            self._docs.move_to_end(number)
        return doc

    def _keep(self, number: int, doc: dict[str, Any]) -> None:
        interval = self.reader.checkpoint_interval
        if interval and number % interval == 0:
            # Checkpoints cost a parse of the whole document: keep a few apart,
            # so stepping around one interval never parses it again.
            cache, size = self._anchors, _ANCHORS
        else:
            cache, size = self._docs, _CACHE
        cache[number] = doc
        cache.move_to_end(number)
        while len(cache) > size:
            cache.popitem(last=False)

    def _parent_and_doc(self, number: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the documents at ``number - 1`` and ``number``, sharing structure.

        The child is the parent with the version's delta applied, so the
        diff walk skips every untouched subtree by identity.
        """
        assert self.state_id is not None
        parent = self.document(number - 1)
        version = self.reader.get_version(self.state_id, number)
        doc: dict[str, Any] = apply_patch(parent, version.delta)
        return parent, doc

    # ------------------------------------------------------------ version log
    def log(self) -> dict[str, Any]:
        """Return the current page of the version log."""
        if self.state_id is None:
            return {"items": [], "next_before": None, "before": None, "scanned": 0, "head": 0}
        versions = self.reader.iter_history(self.state_id, before=self.log_before)
        items, next_before, scanned = log_page(versions, self.filter)
        if items and items[0]["number"] == self.head:
            self._updated[(self.state_id, self.head)] = items[0]["time"]
        return {
            "items": items,
            "before": self.log_before,
            "next_before": next_before,
            "scanned": scanned,
            "head": self.head,
            "filtered": self.filter.active,
        }

    # ------------------------------------------------------------------- tabs
    def tree_view(self) -> dict[str, Any]:
        """Return the State tab: visible rows from the pinned path of the selected version."""
        if self.state_id is None:
            return {"rows": [], "cut": False, "pinned": self.pinned, "missing": False}
        doc = self.document(self.version)
        try:
            node = resolve(doc, self.pinned) if self.pinned else doc
        except InvalidPathError:
            return {"rows": [], "cut": False, "pinned": self.pinned, "missing": True}
        rows, cut = self.tree.rows(node, self.pinned)
        return {"rows": rows, "cut": cut, "pinned": self.pinned, "missing": False}

    def run_search(self) -> dict[str, Any]:
        """Search the selected version's (pinned) document; expand the hits' parents."""
        if self.state_id is None or not self.query:
            self.search_result = SearchResult(self.query)
            self.tree.hits = set()
            return {"query": self.query, "total": 0, "hits": []}
        doc = self.document(self.version)
        try:
            node = resolve(doc, self.pinned) if self.pinned else doc
        except InvalidPathError:
            node = None
        self.search_result = search(node, self.query, self.pinned)
        self.tree.reveal(self.search_result)
        return {
            "query": self.query,
            "total": self.search_result.total,
            "hits": self.search_result.hits[:200],
        }

    def diff_view(self) -> dict[str, Any]:
        """Return the Diff tab: parent -> selected, or ``diff_from`` -> selected."""
        if self.state_id is None:
            return {"rows": [], "cut": False, "from": None, "to": None}
        to = self.version
        if self.diff_from is None:
            if to == 0:
                return {"rows": [], "cut": False, "from": None, "to": 0}
            old, new = self._parent_and_doc(to)
            start = to - 1
        else:
            start = self.diff_from
            old, new = self.document(start), self.document(to)
        rows, cut = diff_rows(old, new)
        return {"rows": rows, "cut": cut, "from": start, "to": to}

    def patch_view(self) -> dict[str, Any]:
        """Return the Patch tab: the selected version's operations and metadata."""
        if self.state_id is None or self.version == 0:
            return {"number": self.version, "ops": [], "metadata": "", "id": "", "time": ""}
        version = self.reader.get_version(self.state_id, self.version)
        ops = [
            {
                "op": str(op.get("op", "")),
                "path": str(op.get("path", "")),
                "from": str(op.get("from", "")),
                "value": preview(op["value"]) if "value" in op else "",
            }
            for op in version.delta[:500]
        ]
        meta = json.dumps(version.metadata, indent=2, ensure_ascii=False, default=str)
        return {
            "number": version.number,
            "id": version.id,
            "parent_id": version.parent_id or "",
            "time": version.timestamp.isoformat(timespec="seconds"),
            "run_id": run_id_of(version) or "",
            "ops": ops,
            "more_ops": max(0, len(version.delta) - 500),
            "paths": touched_paths(version.delta)[:50],
            "metadata": meta if len(meta) < 20_000 else meta[:20_000] + "…",
        }

    def snapshots_view(self) -> dict[str, Any]:
        """Return the Snapshots tab: the list, and the inspected one with its diff."""
        if self.state_id is None:
            return {"items": [], "selected": None}
        snaps = self.reader.list_snapshots(self.state_id)
        items = [
            {
                "id": s.id,
                "label": s.label or "",
                "version": s.version,
                "time": s.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            }
            for s in snaps
        ]
        selected = None
        if self.snapshot_id is not None:
            snap = self.reader.get_snapshot(self.state_id, self.snapshot_id)
            against = self.head if self.snapshot_against == "head" else self.version
            rows, cut = diff_rows(snap.state, self.document(against))
            selected = {
                "id": snap.id,
                "label": snap.label or "",
                "version": snap.version,
                "against": self.snapshot_against,
                "against_version": against,
                "state": preview(snap.state, 2000),
                "metadata": preview(snap.metadata, 2000),
                "diff": rows,
                "cut": cut,
            }
        return {"items": items, "selected": selected}

    def stats_view(self) -> dict[str, Any]:
        """Return the Stats tab: figures and two sampled series for the plots."""
        if self.state_id is None:
            return {"rows": [], "versions_over_time": [], "size_over_versions": []}
        figures: dict[str, Any] = {}
        for key, value in self.reader.stats().items():
            if isinstance(value, (str, int, float, bool)) or value is None:
                figures[f"backend.{key}"] = value
        head = self.head
        current = self.document(self.version)
        rows: list[list[Any]] = [
            ["state_id", self.state_id],
            ["head_version", head],
            ["selected_version", self.version],
            ["document_bytes (selected)", _json_size(current)],
            ["snapshots", len(self.reader.list_snapshots(self.state_id))],
        ]
        rows += [[k, v] for k, v in figures.items()]
        times: list[list[Any]] = []
        sizes: list[list[Any]] = []
        if head > 0:
            for n in _sample(1, head, _PLOT_POINTS):
                try:
                    version = self.reader.get_version(self.state_id, n)
                except NotFoundError:
                    continue  # pruned
                times.append([version.timestamp.timestamp(), n])
            for n in _sample(0, head, _SIZE_POINTS):
                try:
                    sizes.append([n, _json_size(self.document(n))])
                except NotFoundError:
                    continue
        if times:
            rows.append(["first_version_time", _iso(times[0][0])])
            rows.append(["last_version_time", _iso(times[-1][0])])
        return {
            "rows": [[str(k), "" if v is None else str(v)] for k, v in rows],
            "versions_over_time": times,
            "size_over_versions": sizes,
        }

    def current_tab(self) -> dict[str, Any]:
        """Return the view of the active tab."""
        if self.tab == "diff":
            return self.diff_view()
        if self.tab == "patch":
            return self.patch_view()
        if self.tab == "snapshots":
            return self.snapshots_view()
        if self.tab == "stats":
            return self.stats_view()
        return self.tree_view()

    # -------------------------------------------------------------- copying
    def copy_value(self, pointer: str) -> str:
        """Return the JSON text of the value at ``pointer`` in the selected version."""
        if self.state_id is None:
            raise ValidationError("copy", "select a state first")
        value = resolve(self.document(self.version), pointer)
        return json.dumps(value, indent=2, ensure_ascii=False)


def _sample(first: int, last: int, count: int) -> list[int]:
    if last - first + 1 <= count:
        return list(range(first, last + 1))
    step = (last - first) / (count - 1)
    return sorted({round(first + i * step) for i in range(count)})


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
