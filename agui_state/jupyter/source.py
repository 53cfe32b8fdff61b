"""One read-only view over every kind of source the data layer accepts.

A *source* is a storage URL (``"file:///var/lib/agui"``), a
:class:`~agui_state.backends.StorageBackend`, a
:class:`~agui_state.persistent.PersistentStateStore` or an in-memory
:class:`~agui_state.store.StateStore`. :func:`open_source` turns any of them
into a :class:`StateSource`, so every frame function is written once and works
the same on every backend.

Reads are paged through the backend's own indexes (``list_states``,
``get_version_history``, ``get_versions``): nothing here loads a document or a
version it does not hand out. Nothing here writes, except through
:meth:`StateSource.writer`, which the inspector and the magics use on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from agui_state.backends import StorageBackend, create_backend
from agui_state.backends.summary import StateSummary, document_bytes
from agui_state.errors import NotFoundError, ValidationError
from agui_state.ids import validate_state_id
from agui_state.models import State, StateSnapshot, StateVersion
from agui_state.store import StateStore

if TYPE_CHECKING:
    from agui_state.persistent import PersistentStateStore

__all__ = [
    "PAGE_SIZE",
    "Source",
    "StateSource",
    "StateSummary",
    "borrow",
    "document_bytes",
    "open_source",
]

PAGE_SIZE = 500
"""Versions or state ids fetched per backend round trip."""

Source: TypeAlias = "str | StorageBackend | PersistentStateStore | StateStore | StateSource"
"""What the data-layer functions accept as ``source``."""


class _Reader(Protocol):
    """The few reads a source must answer; one implementation per source family."""

    kind: str
    label: str

    def state_ids(self, prefix: str | None, after: str | None, limit: int) -> list[str]: ...
    def head(self, state_id: str) -> int: ...
    def current(self, state_id: str) -> State: ...
    def at(self, state_id: str, number: int) -> State: ...
    def version(self, state_id: str, number_or_id: int | str) -> StateVersion: ...
    def newest(self, state_id: str, limit: int, before: int | None) -> list[StateVersion]: ...
    def oldest(self, state_id: str, after: int, limit: int) -> list[StateVersion]: ...
    def snapshots(self, state_id: str) -> list[StateSnapshot]: ...
    def snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot: ...
    def stats(self) -> dict[str, Any]: ...
    def summaries(self, state_ids: list[str]) -> list[StateSummary]: ...


class _BackendReader:
    """Reads through a :class:`StorageBackend` (given, opened from a URL, or a store's)."""

    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend
        self.kind = str(backend.backend_type)
        self.label = backend.config.redacted_url or self.kind

    def state_ids(self, prefix: str | None, after: str | None, limit: int) -> list[str]:
        return self.backend.list_states(prefix=prefix, limit=limit, after=after)

    def head(self, state_id: str) -> int:
        return self.backend.head_version(state_id)

    def current(self, state_id: str) -> State:
        return self.backend.get_state(state_id)

    def at(self, state_id: str, number: int) -> State:
        return self.backend.state_at(state_id, number)

    def version(self, state_id: str, number_or_id: int | str) -> StateVersion:
        return self.backend.get_version(state_id, number_or_id)

    def newest(self, state_id: str, limit: int, before: int | None) -> list[StateVersion]:
        return self.backend.get_version_history(state_id, limit=limit, before=before)

    def oldest(self, state_id: str, after: int, limit: int) -> list[StateVersion]:
        return self.backend.get_versions(state_id, after=after, limit=limit)

    def snapshots(self, state_id: str) -> list[StateSnapshot]:
        return self.backend.list_snapshots(state_id)

    def snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        return self.backend.get_snapshot(state_id, snapshot_id)

    def stats(self) -> dict[str, Any]:
        return self.backend.stats()

    def summaries(self, state_ids: list[str]) -> list[StateSummary]:
        return self.backend.summarize_states(state_ids)


class _StoreReader:
    """Reads an in-memory :class:`StateStore`: one state, its kept version window."""

    kind = "store"

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.label = repr(store)

    def _check(self, state_id: str) -> None:
        if state_id != self.store.state_id:
            raise NotFoundError("state", state_id)

    def state_ids(self, prefix: str | None, after: str | None, limit: int) -> list[str]:
        sid = self.store.state_id
        keep = (prefix is None or sid.startswith(prefix)) and (after is None or sid > after)
        return [sid] if keep and limit > 0 else []

    def head(self, state_id: str) -> int:
        self._check(state_id)
        return self.store.version

    def current(self, state_id: str) -> State:
        self._check(state_id)
        return self.store.get_state()

    def at(self, state_id: str, number: int) -> State:
        self._check(state_id)
        return self.store.state_at(number)

    def version(self, state_id: str, number_or_id: int | str) -> StateVersion:
        self._check(state_id)
        return self.store.get_version(number_or_id)

    def newest(self, state_id: str, limit: int, before: int | None) -> list[StateVersion]:
        self._check(state_id)
        return self.store.history(limit=limit, before=before)

    def oldest(self, state_id: str, after: int, limit: int) -> list[StateVersion]:
        self._check(state_id)
        top = min(self.store.version, after + limit)
        page = self.store.history(limit=max(top - after, 0), before=top + 1)
        page.reverse()
        return page

    def snapshots(self, state_id: str) -> list[StateSnapshot]:
        self._check(state_id)
        return self.store.snapshots()

    def snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        self._check(state_id)
        return self.store.get_snapshot(snapshot_id)

    def summaries(self, state_ids: list[str]) -> list[StateSummary]:
        store = self.store
        if store.state_id not in state_ids:
            return []
        history = store.history(limit=store.version)  # the kept window, newest first
        return [
            StateSummary(
                store.state_id,
                store.version,
                len(history),
                history[-1].timestamp if history else None,
                history[0].timestamp if history else None,
                len(store.snapshots()),
                document_bytes(store.get_state()),
            )
        ]

    def stats(self) -> dict[str, Any]:
        store = self.store
        kept = len(store.history(limit=store.version))  # the kept window
        return {
            "backend_type": "store",
            "state_id": store.state_id,
            "version": store.version,
            "versions": kept,
            "snapshots": len(store.snapshots()),
            "state_bytes": store.state_bytes,
            "checkpoint_interval": store.options.checkpoint_interval,
        }


class StateSource:
    """A read-only adapter over a URL, backend, persistent store or store.

    Use :func:`open_source` to build one; as a context manager it closes a
    backend it opened from a URL (and any writer it opened), never one it was
    given. ``state_id`` arguments default to the source's own state (a
    store's ``state_id``) when there is one.

    Attributes:
        kind: ``"memory"``, ``"file"``, ``"sqlite"``, ``"postgresql"``,
            ``"redis"`` (the backend type) or ``"store"`` (an in-memory store).
        label: Where the data lives: the redacted URL (no password) or the
            store's repr.
        default_state_id: The state of a store source, else ``None``.
    """

    def __init__(
        self,
        reader: _Reader,
        *,
        owned: StorageBackend | None = None,
        default_state_id: str | None = None,
        backend: StorageBackend | None = None,
        store: StateStore | PersistentStateStore | None = None,
    ) -> None:
        self._reader = reader
        self._owned = owned
        self._backend = backend
        self._store = store
        self._writers: dict[str, Any] = {}
        self.kind = reader.kind
        self.label = reader.label
        self.default_state_id = default_state_id
        self.closed = False

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close writers this source opened and a backend it opened from a URL. Idempotent."""
        if self.closed:
            return
        self.closed = True
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> StateSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateSource(kind={self.kind!r}, label={self.label!r})"

    # ------------------------------------------------------------ arguments
    def resolve_state_id(self, state_id: str | None) -> str:
        """Return ``state_id``, or the source's own state when it is None.

        Raises:
            ValidationError: None given and the source has no state of its own,
                or an invalid id.
        """
        if state_id is None:
            if self.default_state_id is None:
                raise ValidationError(
                    "state_id", f"required: the source {self.label!r} holds many states"
                )
            return self.default_state_id
        return validate_state_id(state_id)

    # ---------------------------------------------------------------- reads
    def iter_state_ids(self, prefix: str | None = None) -> Iterator[str]:
        """Yield every state id (ascending), paged through the backend's index.

        Raises:
            ValidationError: ``prefix`` is not a string.
        """
        if prefix is not None and not isinstance(prefix, str):
            raise ValidationError("prefix", f"must be a string, got {type(prefix).__name__}")
        after: str | None = None
        while True:
            page = self._reader.state_ids(prefix, after, PAGE_SIZE)
            yield from page
            if len(page) < PAGE_SIZE:
                return
            after = page[-1]

    def head_version(self, state_id: str | None = None) -> int:
        """Return the head version number of a state.

        Raises:
            NotFoundError: The state does not exist.
        """
        return self._reader.head(self.resolve_state_id(state_id))

    def get_state(self, state_id: str | None = None) -> State:
        """Return the current document of a state.

        Raises:
            NotFoundError: The state does not exist.
        """
        return self._reader.current(self.resolve_state_id(state_id))

    def state_at(self, state_id: str | None, version: int) -> State:
        """Return the document of a state as it was at ``version``.

        Raises:
            ValidationError: ``version`` is not an int.
            NotFoundError: No such state, or ``version`` is out of range or pruned.
        """
        sid = self.resolve_state_id(state_id)
        number = check_version_number(version, "version")
        head = self._reader.head(sid)
        if number > head:
            raise NotFoundError("version", sid, number)
        return self._reader.at(sid, number)

    def get_version(self, state_id: str | None, number_or_id: int | str) -> StateVersion:
        """Return one version by number or id.

        Raises:
            ValidationError: Neither an int nor a str.
            NotFoundError: No such state or version.
        """
        sid = self.resolve_state_id(state_id)
        if isinstance(number_or_id, bool) or not isinstance(number_or_id, (int, str)):
            raise ValidationError(
                "version", f"must be a version number or id, got {number_or_id!r}"
            )
        self._reader.head(sid)  # an unknown state is named as such, not as a version
        return self._reader.version(sid, number_or_id)

    def iter_history(
        self,
        state_id: str | None = None,
        *,
        before: int | datetime | None = None,
        since: int | datetime | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[StateVersion]:
        """Yield versions newest first, paged through the version index.

        Args:
            state_id: The state (default: the source's own).
            before: Only versions numbered below this (an int), or committed
                before this time (an aware datetime).
            since: Only versions numbered at or above this (an int), or
                committed at or after this time. The walk stops at the first
                older version, so only the pages needed are read.
            page_size: Versions per backend round trip.

        Raises:
            NotFoundError: The state does not exist.
            ValidationError: ``before`` or ``since`` is neither an int nor an aware datetime.
        """
        sid = self.resolve_state_id(state_id)
        before_n, before_t = split_bound(before, "before")
        since_n, since_t = split_bound(since, "since")
        head = self._reader.head(sid)
        top: int | None = before_n
        if top is None or top > head:
            top = head + 1
        while top > 1:
            page = self._reader.newest(sid, page_size, top)
            if not page:
                return
            for version in page:
                if since_n is not None and version.number < since_n:
                    return
                if since_t is not None and version.timestamp < since_t:
                    return
                if before_t is not None and version.timestamp >= before_t:
                    continue
                yield version
            top = page[-1].number

    def iter_versions(
        self, state_id: str, *, after: int = 0, until: int | None = None
    ) -> Iterator[StateVersion]:
        """Yield stored versions numbered ``after+1 .. until``, oldest first, paged.

        Raises:
            NotFoundError: The state does not exist.
        """
        sid = self.resolve_state_id(state_id)
        last = self._reader.head(sid) if until is None else until
        while after < last:
            page = self._reader.oldest(sid, after, min(PAGE_SIZE, last - after))
            if not page:
                return
            for version in page:
                if version.number > last:
                    return
                yield version
            after = page[-1].number

    def iter_summaries(
        self, prefix: str | None = None, limit: int | None = None
    ) -> Iterator[StateSummary]:
        """Yield a :class:`StateSummary` per state (ascending ids), a page of ids at a time.

        Each page is summarized in bulk by the backend
        (:meth:`StorageBackend.summarize_states`: two round trips on SQL and Redis).
        """
        ids = self.iter_state_ids(prefix)
        if limit is not None:
            ids = islice(ids, limit)
        while True:
            page = list(islice(ids, PAGE_SIZE))
            if not page:
                return
            yield from self._reader.summaries(page)

    def first_version(self, state_id: str) -> StateVersion | None:
        """Return the oldest stored version of a state (None when it has none)."""
        page = self._reader.oldest(self.resolve_state_id(state_id), 0, 1)
        return page[0] if page else None

    def list_snapshots(self, state_id: str | None = None) -> list[StateSnapshot]:
        """Return the snapshots of a state, ordered by (version, timestamp, id).

        Raises:
            NotFoundError: The state does not exist.
        """
        sid = self.resolve_state_id(state_id)
        self._reader.head(sid)
        return self._reader.snapshots(sid)

    def get_snapshot(self, state_id: str | None, snapshot_id: str) -> StateSnapshot:
        """Return one snapshot.

        Raises:
            NotFoundError: No such state or snapshot.
        """
        sid = self.resolve_state_id(state_id)
        if not isinstance(snapshot_id, str):
            raise ValidationError("snapshot_id", f"must be a string, got {snapshot_id!r}")
        return self._reader.snapshot(sid, snapshot_id)

    def stats(self) -> dict[str, Any]:
        """Return the source's figures: a store's ``stats()`` or the backend's."""
        if self._store is not None and hasattr(self._store, "stats"):
            stats: dict[str, Any] = self._store.stats()
            return stats
        return self._reader.stats()

    @property
    def backend(self) -> StorageBackend | None:
        """The backend read from (None for an in-memory store)."""
        return self._backend

    def writer(self, state_id: str | None = None) -> StateStore | PersistentStateStore:
        """Return the object to write a state through.

        The store given as source when it holds ``state_id``; otherwise a
        synchronous :class:`PersistentStateStore` on the source's backend,
        opened once per state and closed with this source.

        Raises:
            ValidationError: An in-memory store source and another state id.
        """
        sid = self.resolve_state_id(state_id)
        store = self._store
        if store is not None and store.state_id == sid:
            return store
        if self._backend is None:
            raise ValidationError(
                "state_id", f"{sid!r}: an in-memory store source only holds {self.label!r}"
            )
        if sid not in self._writers:
            from agui_state.persistent import PersistentStateStore

            self._writers[sid] = PersistentStateStore(self._backend, sid)
        writer: PersistentStateStore = self._writers[sid]
        return writer


def check_version_number(value: Any, argument: str) -> int:
    """Return ``value`` if it is a non-negative int version number.

    Raises:
        ValidationError: Naming ``argument``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(argument, f"must be a version number (int), got {value!r}")
    if value < 0:
        raise ValidationError(argument, f"must be >= 0, got {value}")
    return value


def split_bound(value: Any, argument: str) -> tuple[int | None, datetime | None]:
    """Split a ``before``/``since`` bound into (version number, time).

    Raises:
        ValidationError: Neither an int, an aware datetime nor None.
    """
    if value is None:
        return None, None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError(argument, f"a datetime must be timezone-aware, got {value!r}")
        return None, value
    return check_version_number(value, argument), None


def open_source(source: Any, state_id: str | None = None) -> StateSource:
    """Open a read-only :class:`StateSource` over ``source``.

    Args:
        source: A storage URL, a :class:`StorageBackend`, a
            :class:`PersistentStateStore`, a :class:`StateStore` or a
            :class:`StateSource` (returned as is).
        state_id: The state that ``state_id=None`` means later (default: the
            store's own state for a store source).

    Returns:
        The source; use it as a context manager. It closes a backend it
        opened from a URL, never one it was given.

    Raises:
        ValidationError: ``source`` is none of these types (names ``source``).
        ConfigError: A malformed URL.
        StorageError: The backend cannot be opened.

    Example:
        >>> with open_source("memory://") as src:
        ...     list(src.iter_state_ids())
        []
    """
    from agui_state.persistent import PersistentStateStore

    if state_id is not None:
        validate_state_id(state_id)
    if isinstance(source, StateSource):
        if state_id is not None:
            source.default_state_id = state_id
        return source
    if isinstance(source, str):
        backend = create_backend(source)
        return StateSource(
            _BackendReader(backend), owned=backend, backend=backend, default_state_id=state_id
        )
    if isinstance(source, StorageBackend):
        return StateSource(_BackendReader(source), backend=source, default_state_id=state_id)
    if isinstance(source, PersistentStateStore):
        # Pending write-behind versions become durable first, so the backend
        # shows everything the store shows (this writes nothing new).
        source.flush()
        return StateSource(
            _BackendReader(source.backend),
            backend=source.backend,
            store=source,
            default_state_id=state_id or source.state_id,
        )
    if isinstance(source, StateStore):
        return StateSource(
            _StoreReader(source), store=source, default_state_id=state_id or source.state_id
        )
    raise ValidationError(
        "source",
        "expected a storage URL, a StorageBackend, a PersistentStateStore or a StateStore, "
        f"got {type(source).__name__}",
    )


@contextmanager
def borrow(source: Any, state_id: str | None = None) -> Iterator[StateSource]:
    """Open ``source`` for one function call; close only what was opened here.

    A :class:`StateSource` passed in stays open (its owner closes it); a URL
    opened here is closed on exit, even when the body raises.
    """
    if isinstance(source, StateSource):
        yield source
        return
    with open_source(source, state_id) as src:
        yield src
