"""The inspector's read access to what it inspects, and its two writes.

A :class:`Reader` wraps a backend URL, a :class:`StorageBackend`, a
:class:`PersistentStateStore` or a :class:`StateStore` behind one small
read-only surface (state ids paged, head, one version, history pages, time
travel, snapshots, stats). The only writes, :meth:`Reader.restore` and
:meth:`Reader.fork`, go through the library's public API, so a restore is
recorded as a new version exactly as the library records it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from agui_state import (
    NotFoundError,
    PersistentStateStore,
    StateSnapshot,
    StateStore,
    StateVersion,
    StorageBackend,
    ValidationError,
    create_backend,
)

__all__ = ["HISTORY_PAGE", "Reader"]

HISTORY_PAGE = 200
"""Versions fetched per round trip when walking the history."""


class Reader:
    """Read access to a source of states (see module docstring).

    Args:
        source: A backend URL, a :class:`StorageBackend`, a
            :class:`PersistentStateStore` or a :class:`StateStore`.

    Raises:
        ValidationError: ``source`` is none of these.
    """

    def __init__(self, source: Any) -> None:
        self._owned: StorageBackend | None = None
        self._store: StateStore | None = None
        self._persistent: PersistentStateStore | None = None
        self._backend: StorageBackend | None = None
        if isinstance(source, str):
            self._owned = self._backend = create_backend(source)
            self.kind = self._backend.backend_type
            self.label = self._backend.config.redacted_url or self.kind
        elif isinstance(source, StorageBackend):
            self._backend = source
            self.kind = source.backend_type
            self.label = source.config.redacted_url or self.kind
        elif isinstance(source, PersistentStateStore):
            self._persistent = source
            self._backend = source.backend
            self.kind = self._backend.backend_type
            self.label = self._backend.config.redacted_url or self.kind
        elif isinstance(source, StateStore):
            self._store = source
            self.kind = "store"
            self.label = f"StateStore {source.state_id!r}"
        else:
            raise ValidationError(
                "source",
                "expected a backend URL, a StorageBackend, a PersistentStateStore or a "
                f"StateStore, got {type(source).__name__}",
            )

    # ----------------------------------------------------------------- facts
    @property
    def live(self) -> bool:
        """Whether new versions can be observed by subscription."""
        return self._store is not None or self._persistent is not None

    @property
    def default_state_id(self) -> str | None:
        """The state a store holds (None for a backend)."""
        if self._store is not None:
            return self._store.state_id
        if self._persistent is not None:
            return self._persistent.state_id
        return None

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``callback`` after every write to the store given; None for a backend."""
        target = self._store if self._store is not None else self._persistent
        if target is None:
            return None
        return target.subscribe("", lambda change: callback())

    def close(self) -> None:
        """Close the backend this reader opened from a URL (never one it was given)."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    # ----------------------------------------------------------------- reads
    def _need_backend(self) -> StorageBackend:
        assert self._backend is not None
        return self._backend

    def flush(self) -> None:
        """Make versions queued by an asynchronous persistent store readable."""
        if self._persistent is not None and not self._persistent.closed:
            self._persistent.flush()

    def iter_state_ids(self, prefix: str | None = None) -> Iterator[str]:
        """Yield every state id in ascending order (paged through the backend)."""
        if self._store is not None:
            sid = self._store.state_id
            if prefix is None or sid.startswith(prefix):
                yield sid
            return
        yield from self._need_backend().iter_states(prefix=prefix, page_size=500)

    def head_version(self, state_id: str) -> int:
        """Return the head version number of a state."""
        if self._store is not None:
            self._check_store_id(state_id)
            return self._store.version
        return self._need_backend().head_version(state_id)

    def state_at(self, state_id: str, number: int) -> dict[str, Any]:
        """Return the document at version ``number``."""
        if self._store is not None:
            self._check_store_id(state_id)
            return self._store.state_at(number)
        return self._need_backend().state_at(state_id, number)

    def get_version(self, state_id: str, number: int) -> StateVersion:
        """Return one version by number."""
        if self._store is not None:
            self._check_store_id(state_id)
            return self._store.get_version(number)
        return self._need_backend().get_version(state_id, number)

    def history_page(
        self, state_id: str, limit: int, before: int | None = None
    ) -> list[StateVersion]:
        """Return up to ``limit`` versions numbered below ``before``, newest first."""
        if self._store is not None:
            self._check_store_id(state_id)
            return self._store.history(limit=limit, before=before)
        return self._need_backend().get_version_history(state_id, limit=limit, before=before)

    def iter_history(self, state_id: str, before: int | None = None) -> Iterator[StateVersion]:
        """Yield versions newest first, from below ``before``, a page at a time."""
        while True:
            page = self.history_page(state_id, HISTORY_PAGE, before)
            yield from page
            if len(page) < HISTORY_PAGE:
                return
            before = page[-1].number

    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        """Return the snapshots of a state."""
        if self._store is not None:
            self._check_store_id(state_id)
            return self._store.snapshots()
        return self._need_backend().list_snapshots(state_id)

    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        """Return one snapshot."""
        if self._store is not None:
            self._check_store_id(state_id)
            return self._store.get_snapshot(snapshot_id)
        return self._need_backend().get_snapshot(state_id, snapshot_id)

    def stats(self) -> dict[str, Any]:
        """Return the backend's (or persistent store's) figures; never a password."""
        if self._persistent is not None:
            return dict(self._persistent.stats())
        if self._store is not None:
            return {"backend_type": "store", "version": self._store.version}
        return dict(self._need_backend().stats())

    def _check_store_id(self, state_id: str) -> None:
        assert self._store is not None
        if state_id != self._store.state_id:
            raise NotFoundError("state", state_id)

    # ----------------------------------------------------------------- writes
    def restore(self, state_id: str, snapshot_id: str) -> StateVersion:
        """Restore a snapshot as a new version through the library's public API."""
        if self._store is not None:
            self._check_store_id(state_id)
            return self._store.restore_snapshot(snapshot_id, metadata={"via": "inspector"})
        if self._persistent is not None and self._persistent.state_id == state_id:
            return self._persistent.restore_persistent_snapshot(
                snapshot_id, metadata={"via": "inspector"}
            )
        with PersistentStateStore(self._need_backend(), state_id) as writer:
            return writer.restore_persistent_snapshot(snapshot_id, metadata={"via": "inspector"})

    def fork(self, state_id: str, number: int, new_state_id: str) -> StateVersion:
        """Start state ``new_state_id`` whose version 1 is ``state_id``'s document at ``number``.

        Raises:
            ValidationError: The source is a single in-memory store, or the
                new id is taken.
        """
        if self._store is not None:
            raise ValidationError(
                "fork", "a StateStore holds one state; fork needs a backend or persistent store"
            )
        backend = self._need_backend()
        if backend.exists(new_state_id):
            raise ValidationError("new_state_id", f"state {new_state_id!r} already exists")
        document = backend.state_at(state_id, number)
        with PersistentStateStore(backend, new_state_id) as writer:
            return writer.apply_patch(
                [{"op": "replace", "path": "", "value": document}],
                metadata={"forked_from": {"state_id": state_id, "version": number}},
            )
