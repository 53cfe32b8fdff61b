"""The inspector's access to what it inspects: the data layer's reads, two writes, live hooks.

Reads go through :func:`agui_state.jupyter.open_source` (one adapter for a
URL, a backend, a persistent store or a store). This module adds what only
the inspector needs: history pages, a subscription for live updates, and the
only two writes, :meth:`Reader.restore` and :meth:`Reader.fork`, made through
the library's public API (so a restore is recorded as a new version exactly
as the library records it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from agui_state.errors import ValidationError
from agui_state.jupyter.source import StateSource, open_source
from agui_state.models import StateSnapshot, StateVersion
from agui_state.persistent import PersistentStateStore
from agui_state.store import StateStore

__all__ = ["HISTORY_PAGE", "Reader"]

HISTORY_PAGE = 200
"""Versions fetched per round trip when walking the history."""


class Reader:
    """Read access to a source of states, plus restore and fork (see module docstring).

    Args:
        source: A backend URL, a :class:`~agui_state.StorageBackend`, a
            :class:`~agui_state.PersistentStateStore` or a
            :class:`~agui_state.StateStore`.

    Raises:
        ValidationError: ``source`` is none of these (names ``source``).
    """

    def __init__(self, source: Any) -> None:
        self.source: StateSource = open_source(source)
        self._store: StateStore | PersistentStateStore | None = (
            source if isinstance(source, (StateStore, PersistentStateStore)) else None
        )
        self.kind = self.source.kind
        self.label = self.source.label

    # ----------------------------------------------------------------- facts
    @property
    def live(self) -> bool:
        """Whether new versions can be observed by subscription."""
        return self._store is not None

    @property
    def default_state_id(self) -> str | None:
        """The state a store holds (None for a backend)."""
        return self.source.default_state_id

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``callback`` after every write to the store given; None for a backend."""
        if self._store is None:
            return None
        # Versions only: no values kept, so writes into large lists stay O(delta).
        return self._store.subscribe_versions(lambda version: callback())

    def close(self) -> None:
        """Close what the source opened (a URL's backend, writers); never what it was given."""
        self.source.close()

    # ----------------------------------------------------------------- reads
    def flush(self) -> None:
        """Make versions queued by an asynchronous persistent store readable."""
        if isinstance(self._store, PersistentStateStore) and not self._store.closed:
            self._store.flush()

    def iter_state_ids(self, prefix: str | None = None) -> Iterator[str]:
        """Yield every state id in ascending order (paged through the backend)."""
        return self.source.iter_state_ids(prefix)

    def head_version(self, state_id: str) -> int:
        """Return the head version number of a state."""
        return self.source.head_version(state_id)

    def state_at(self, state_id: str, number: int) -> dict[str, Any]:
        """Return the document at version ``number``."""
        return self.source.state_at(state_id, number)

    def get_version(self, state_id: str, number: int) -> StateVersion:
        """Return one version by number."""
        return self.source.get_version(state_id, number)

    def iter_versions(self, state_id: str, *, after: int, until: int) -> Iterator[StateVersion]:
        """Yield versions ``after+1 .. until``, oldest first, paged."""
        return self.source.iter_versions(state_id, after=after, until=until)

    @property
    def checkpoint_interval(self) -> int | None:
        """Every how many versions a version carries a checkpoint (None: a store source)."""
        backend = self.source.backend
        return None if backend is None else backend.config.checkpoint_interval

    def iter_history(self, state_id: str, before: int | None = None) -> Iterator[StateVersion]:
        """Yield versions newest first, from below ``before``, a page at a time."""
        return self.source.iter_history(state_id, before=before, page_size=HISTORY_PAGE)

    def history_page(
        self, state_id: str, limit: int, before: int | None = None
    ) -> list[StateVersion]:
        """Return up to ``limit`` versions numbered below ``before``, newest first."""
        versions = self.source.iter_history(state_id, before=before, page_size=limit)
        return list(islice(versions, limit))

    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        """Return the snapshots of a state."""
        return self.source.list_snapshots(state_id)

    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        """Return one snapshot."""
        return self.source.get_snapshot(state_id, snapshot_id)

    def stats(self) -> dict[str, Any]:
        """Return the source's figures (never a password)."""
        return self.source.stats()

    # ----------------------------------------------------------------- writes
    def _writer(self, state_id: str) -> StateStore | PersistentStateStore:
        writer = self.source.writer(state_id)
        if writer is not self._store and isinstance(writer, PersistentStateStore):
            # A writer the source opened earlier may lag behind other writers.
            writer.refresh()
        return writer

    def restore(self, state_id: str, snapshot_id: str) -> StateVersion:
        """Restore a snapshot as a new version through the library's public API."""
        writer = self._writer(state_id)
        meta = {"via": "agui_state inspector"}
        if isinstance(writer, PersistentStateStore):
            return writer.restore_persistent_snapshot(snapshot_id, metadata=meta)
        return writer.restore_snapshot(snapshot_id, metadata=meta)

    def fork(self, state_id: str, number: int, new_state_id: str) -> StateVersion:
        """Start state ``new_state_id`` whose version 1 is ``state_id``'s document at ``number``.

        Raises:
            ValidationError: The source is a single in-memory store, or the
                new id is taken.
        """
        backend = self.source.backend
        if backend is None:
            raise ValidationError(
                "fork", "a StateStore holds one state; fork needs a backend or persistent store"
            )
        if backend.exists(new_state_id):
            raise ValidationError("new_state_id", f"state {new_state_id!r} already exists")
        document = self.source.state_at(state_id, number)
        writer = self._writer(new_state_id)
        return writer.apply_patch(
            [{"op": "replace", "path": "", "value": document}],
            metadata={"forked_from": {"state_id": state_id, "version": number}},
        )
