"""Per-state figures for listings: :class:`StateSummary` and the generic way to read them.

A listing of 10k states cannot afford several round trips per state, so
:meth:`~agui_state.backends.base.StorageBackend.summarize_states` takes a page
of ids at once: the SQL and Redis backends answer a page in two round trips;
every other backend uses :func:`summarize_each`, built on the contract's
single-state reads (fine for local backends: memory and files).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from agui_state.errors import NotFoundError
from agui_state.models import State, StateSnapshot, StateVersion

__all__ = ["SingleReads", "StateSummary", "document_bytes", "summarize_each"]


def document_bytes(doc: Any) -> int:
    """Size of a document as compact UTF-8 JSON (what ``max_state_bytes`` bounds)."""
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


class SingleReads(Protocol):
    """The contract reads :func:`summarize_each` needs (a :class:`StorageBackend` has them)."""

    def head_version(self, state_id: str) -> int: ...
    def get_state(self, state_id: str) -> State: ...
    def get_versions(
        self, state_id: str, after: int = 0, limit: int | None = None
    ) -> list[StateVersion]: ...
    def get_version(self, state_id: str, version_id: int | str) -> StateVersion: ...
    def list_snapshots(self, state_id: str) -> list[StateSnapshot]: ...


@dataclass(frozen=True, slots=True)
class StateSummary:
    """What a listing shows about one state.

    Attributes:
        state_id: The state.
        head: Its head version number.
        versions: How many versions are stored (oldest stored to head: gap-free).
        created: Commit time of the oldest stored version (None without versions).
        updated: Commit time of the head version (None without versions).
        snapshots: How many snapshots are stored.
        size_bytes: The current document as compact UTF-8 JSON.
    """

    state_id: str
    head: int
    versions: int
    created: datetime | None
    updated: datetime | None
    snapshots: int
    size_bytes: int


def summarize_each(backend: SingleReads, state_ids: Sequence[str]) -> list[StateSummary]:
    """Summarize states one by one with the contract's reads; absent states are skipped."""
    out: list[StateSummary] = []
    for sid in state_ids:
        try:
            head = backend.head_version(sid)
            doc = backend.get_state(sid)
            first = backend.get_versions(sid, after=0, limit=1) if head else []
            last = None
            if first:
                last = first[0] if first[0].number == head else backend.get_version(sid, head)
        except NotFoundError:
            continue  # deleted since it was listed
        out.append(
            StateSummary(
                sid,
                head,
                head - first[0].number + 1 if first else 0,
                first[0].timestamp if first else None,
                last.timestamp if last is not None else None,
                len(backend.list_snapshots(sid)),
                document_bytes(doc),
            )
        )
    return out
