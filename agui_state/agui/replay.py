"""Replaying a stored thread as a valid AG-UI event stream.

:func:`replay_thread` turns a state's history into events that rebuild it
exactly. Versions written from AG-UI events carry their run id in
``metadata["agui"]["run_id"]`` (see :mod:`agui_state.agui.inbound`); runs of
consecutive versions with the same run id become one
``RUN_STARTED ... RUN_FINISHED`` block, and versions without one are grouped
under a synthetic, deterministic run id ``replay-<state id>-<first>-<last>``.

Every run opens with a ``STATE_SNAPSHOT`` of the state before it, so each run
is self-contained: a client (or a validator, which tracks state per run) can
join at any run, and every delta can be checked against a known base.
"""

from __future__ import annotations

from collections.abc import Iterator

from agui_state.agui._sdk import BaseEvent, to_epoch_ms
from agui_state.agui._types import Source, StoreLike
from agui_state.agui.inbound import METADATA_KEY
from agui_state.agui.outbound import (
    resolve_source,
    run_finished_event,
    run_started_event,
    state_snapshot_event,
    version_to_event,
)
from agui_state.backends.base import StorageBackend
from agui_state.errors import NotFoundError, ValidationError
from agui_state.models import State, StateVersion, replay

__all__ = ["replay_thread", "run_id_of"]

_PAGE = 500
"""Versions read per round trip."""


def run_id_of(version: StateVersion) -> str | None:
    """Return the AG-UI run id recorded in a version's metadata, if any."""
    info = version.metadata.get(METADATA_KEY)
    if isinstance(info, dict):
        run_id = info.get("run_id")
        if isinstance(run_id, str) and run_id:
            return run_id
    return None


def replay_thread(
    source: Source,
    state_id: str | None = None,
    from_version: int = 0,
    *,
    group_by_run: bool = True,
    compact: bool = False,
) -> Iterator[BaseEvent]:
    """Yield an AG-UI event stream that rebuilds a stored state exactly.

    For each run: ``RUN_STARTED`` (``threadId`` = state id), a
    ``STATE_SNAPSHOT`` of the state before the run (for the first run: the
    state at ``from_version``), the run's ``STATE_DELTA`` events in version
    order, ``RUN_FINISHED``. With nothing after ``from_version`` a single run
    carries just the snapshot (its events are stamped with the current
    time); otherwise event timestamps are the versions' commit times, so a
    replay is deterministic. Arguments are checked and the baseline is read
    when this is called; events are produced lazily.

    Args:
        source: A store, or a storage backend (then ``state_id`` is required).
        state_id: The state (thread) to replay.
        from_version: Start after this version (its state is the baseline).
        group_by_run: One run per recorded run id (default). ``False`` puts
            every version in one synthetic run.
        compact: Collapse each run's deltas into one ``STATE_SNAPSHOT`` of the
            state at the end of the run.

    Yields:
        SDK event objects (encode with :func:`~agui_state.agui.encode_sse`).

    Raises:
        ValidationError: ``from_version`` negative, ``state_id`` missing or
            not the store's.
        NotFoundError: The state or ``from_version`` does not exist (for a
            persistent store whose memory window starts later, the backend
            is read instead), or a version after it was pruned.
        CorruptDataError: A stored delta does not apply.
    """
    if isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 0:
        raise ValidationError("from_version", f"must be an integer >= 0, got {from_version!r}")
    backend, store, sid = resolve_source(source, state_id)
    if store is not None:
        try:
            state = store.state_at(from_version)
            kept = _store_versions(store, from_version)
            if kept and kept[0].number != from_version + 1:
                raise NotFoundError("version", sid, from_version + 1)
            versions: Iterator[StateVersion] = iter(kept)
        except NotFoundError:
            # Older than the store's in-memory window: a persistent store
            # still has it in its backend (once pending writes are flushed).
            backend = _backend_of(store)
            if backend is None:
                raise
    if backend is not None:
        state = backend.state_at(sid, from_version)
        versions = _backend_versions(backend, sid, from_version)
    checked = _consecutive(sid, from_version, versions)
    return _replay(sid, state, from_version, checked, group_by_run=group_by_run, compact=compact)


def _replay(
    sid: str,
    state: State,
    from_version: int,
    versions: Iterator[StateVersion],
    *,
    group_by_run: bool,
    compact: bool,
) -> Iterator[BaseEvent]:
    replayed = False
    for run_id, run in _runs(versions, group_by_run):
        replayed = True
        first, last = run[0], run[-1]
        rid = run_id or f"replay-{sid}-{first.number}-{last.number}"
        start_ms, end_ms = to_epoch_ms(first.timestamp), to_epoch_ms(last.timestamp)
        yield run_started_event(sid, rid, start_ms)
        if not compact:
            yield state_snapshot_event(state, first.number - 1, start_ms)
        for version in run:
            # Track the state as we go: it is the next run's baseline, and a
            # compacted run's snapshot, without reading the source again.
            state = replay(state, [version], sid)
            if not compact:
                yield version_to_event(version)
        if compact:
            yield state_snapshot_event(state, last.number, end_ms)
        yield run_finished_event(sid, rid, end_ms)
    if not replayed:
        rid = f"replay-{sid}-{from_version}"
        yield run_started_event(sid, rid)
        yield state_snapshot_event(state, from_version)
        yield run_finished_event(sid, rid)


def _runs(
    versions: Iterator[StateVersion], group_by_run: bool
) -> Iterator[tuple[str | None, list[StateVersion]]]:
    """Group consecutive versions by recorded run id (buffering one run)."""
    current: list[StateVersion] = []
    current_id: str | None = None
    for version in versions:
        run_id = run_id_of(version) if group_by_run else None
        if current and run_id != current_id:
            yield current_id, current
            current = []
        current_id = run_id
        current.append(version)
    if current:
        yield current_id, current


def _consecutive(sid: str, after: int, versions: Iterator[StateVersion]) -> Iterator[StateVersion]:
    expected = after + 1
    for version in versions:
        if version.number != expected:
            # Pruned (or never written): the stream could not rebuild the state.
            raise NotFoundError("version", sid, expected)
        expected += 1
        yield version


def _backend_of(store: StoreLike) -> StorageBackend | None:
    """Return a persistent store's backend, after flushing its pending writes."""
    backend = getattr(store, "backend", None)
    if not isinstance(backend, StorageBackend):
        return None
    flush = getattr(store, "flush", None)
    if callable(flush):
        flush()
    return backend


def _backend_versions(backend: StorageBackend, sid: str, after: int) -> Iterator[StateVersion]:
    while True:
        page = backend.get_versions(sid, after=after, limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].number


def _store_versions(store: StoreLike, after: int) -> list[StateVersion]:
    """Return the kept versions numbered > ``after``, ascending."""
    # history() pages newest first; collect back to `after`, then reverse.
    collected: list[StateVersion] = []
    before: int | None = None
    while True:
        page = store.history(limit=_PAGE, before=before)
        collected.extend(v for v in page if v.number > after)
        if len(page) < _PAGE or page[-1].number <= after + 1:
            break
        before = page[-1].number
    collected.reverse()
    return collected
