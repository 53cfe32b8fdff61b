"""AG-UI events in: applying ``STATE_SNAPSHOT`` / ``STATE_DELTA`` to a store.

Each state event becomes exactly one version, written atomically, with the
event's context recorded in the version's metadata under ``"agui"``::

    {"agui": {"type": "STATE_DELTA", "run_id": "run-7", "thread_id": "t-1",
              "timestamp": 1718000000000}}

(keys without a value are left out; the event's own ``metadata`` and
``subagentRunId`` are kept when present). ``rawEvent`` is not recorded: it can
be arbitrarily large, and a version should cost O(change). The run id is what
lets :func:`~agui_state.agui.replay_thread` regroup history by run later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agui_state.agui._types import StoreLike
from agui_state.agui.wire import IncomingEvent, read_event
from agui_state.errors import ConflictError, PatchError, ValidationError
from agui_state.models import State, StateVersion
from agui_state.patch import apply_patch, diff
from agui_state.store.limits import MAX_DEPTH_CAP, StoreLimits, check_depth

__all__ = ["EventApplier", "apply_event", "rebuild_state"]

METADATA_KEY = "agui"
"""Key of the AG-UI event context in a version's metadata."""

EventCallback = Callable[[Any], None]

_DEPTH_GUARD = StoreLimits(max_depth=MAX_DEPTH_CAP)

_SNAPSHOT_ATTEMPTS = 8
"""Optimistic retries of a snapshot's diff-and-commit under concurrent writes."""


class EventApplier:
    """Applies a stream of AG-UI events to one store, tracking run context.

    ``RUN_STARTED`` sets the current run id (and thread id); ``RUN_FINISHED``
    and ``RUN_ERROR`` clear the run id. State events are written as versions
    stamped with that context. Every other event type is passed to
    ``on_event`` (when given) and otherwise ignored.

    A ``STATE_DELTA`` that does not apply leaves the state untouched and raises
    :class:`~agui_state.errors.PatchError` naming the failing operation. This
    matches the protocol's reference clients, which keep the previous state
    when a delta fails to apply; the applier stays usable afterwards.

    An applier follows one event stream; use one per stream rather than
    sharing it between threads (the run context is per stream).

    Example::

        applier = EventApplier(store)
        for event in events:            # SDK objects or wire dicts
            applier.apply(event)

    Args:
        store: The store to write to.
        run_id: Initial run id (until a ``RUN_STARTED`` is seen).
        thread_id: Initial thread id.
        on_event: Called with each non-state event exactly as given
            (``RUN_*`` included, after the run context is updated). Its
            exceptions propagate.
        metadata: Extra metadata merged into every version written.
    """

    def __init__(
        self,
        store: StoreLike,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        on_event: EventCallback | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._thread_id = thread_id
        self._on_event = on_event
        self._metadata = dict(metadata or {})

    @property
    def store(self) -> StoreLike:
        """The store written to."""
        return self._store

    @property
    def run_id(self) -> str | None:
        """The current run id (from the latest ``RUN_STARTED``), or ``None``."""
        return self._run_id

    @property
    def thread_id(self) -> str | None:
        """The thread id from the latest ``RUN_STARTED``, or ``None``."""
        return self._thread_id

    def apply(
        self,
        event: Any,
        *,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> StateVersion | None:
        """Apply one event.

        Args:
            event: An AG-UI SDK event, its wire dict (camelCase keys), or the
                JSON text of one.
            run_id: Run id to record, overriding the event's and the tracked one.
            metadata: Extra metadata for this version (``"agui"`` is ours).

        Returns:
            The version written, or ``None`` for non-state events and for a
            snapshot equal to the current state (nothing changed, so nothing
            is recorded: snapshots are often resync messages).

        Raises:
            ValidationError: The event is malformed (names the field).
            PatchError: A delta is malformed or does not apply (names the
                operation); the state is unchanged.
            ConflictError: A snapshot lost to concurrent writers several
                times in a row (nothing was written).
            LimitExceededError: The store's limits would be exceeded.
        """
        incoming = read_event(event)
        if incoming.type == "RUN_STARTED":
            self._run_id = incoming.run_id
            self._thread_id = incoming.thread_id
        elif incoming.type in ("RUN_FINISHED", "RUN_ERROR"):
            self._run_id = None
        if incoming.type not in ("STATE_DELTA", "STATE_SNAPSHOT"):
            if self._on_event is not None:
                self._on_event(event)
            return None
        meta = {**self._metadata, **(metadata or {})}
        meta[METADATA_KEY] = self._context(incoming, run_id)
        if incoming.delta is not None:
            return self._store.apply_patch(incoming.delta, metadata=meta)
        assert incoming.snapshot is not None
        return self._apply_snapshot(incoming.snapshot, meta)

    def _apply_snapshot(self, snapshot: State, meta: dict[str, Any]) -> StateVersion | None:
        """Write ``diff(current, snapshot)`` as one version.

        One version whose delta is the difference keeps history O(change)
        even when a producer resends the whole state. The diff is computed
        and committed in one optimistic transaction: if another writer
        commits in between, the diff would be against a stale state, so the
        commit conflicts and we diff again.
        """
        # diff() recurses: bound the depth first (the store's own, smaller
        # max_depth is enforced when the patch is applied).
        check_depth(snapshot, "", 0, _DEPTH_GUARD)
        for attempt in range(_SNAPSHOT_ATTEMPTS):
            tx = self._store.transaction()
            patch = diff(tx.get(""), snapshot)
            if not patch:
                tx.rollback()
                return None
            tx.apply(patch)
            tx.metadata = meta
            try:
                return tx.commit()
            except ConflictError:
                if attempt + 1 == _SNAPSHOT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def apply_all(self, events: Iterable[Any]) -> list[StateVersion]:
        """Apply events in order; return the versions written.

        Stops at the first error (earlier events stay applied).
        """
        written: list[StateVersion] = []
        for event in events:
            version = self.apply(event)
            if version is not None:
                written.append(version)
        return written

    def _context(self, incoming: IncomingEvent, run_id: str | None) -> dict[str, Any]:
        context: dict[str, Any] = {"type": incoming.type}
        values = {
            "run_id": run_id or incoming.run_id or self._run_id,
            "thread_id": incoming.thread_id or self._thread_id,
            "timestamp": incoming.timestamp,
            "subagent_run_id": incoming.subagent_run_id,
            "metadata": incoming.metadata,
        }
        context.update({k: v for k, v in values.items() if v is not None})
        return context


def apply_event(
    store: StoreLike,
    event: Any,
    *,
    run_id: str | None = None,
    thread_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    on_event: EventCallback | None = None,
) -> StateVersion | None:
    """Apply one AG-UI event to ``store`` (stateless form of :class:`EventApplier`).

    ``STATE_DELTA`` is applied atomically as one version; ``STATE_SNAPSHOT``
    becomes one version whose delta is ``diff(current, snapshot)``. A delta
    that does not apply leaves the state untouched and raises
    :class:`~agui_state.errors.PatchError` naming the failing operation, as
    the protocol's reference clients keep the previous state in that case.
    Other event types are passed to ``on_event`` (if given) and return
    ``None``. Use :class:`EventApplier` to pick the run id up from
    ``RUN_STARTED`` events.

    Args:
        store: The store to write to.
        event: An SDK event object, its wire dict, or its JSON text.
        run_id: Run id recorded in the version metadata.
        thread_id: Thread id recorded when the event carries none.
        metadata: Extra version metadata.
        on_event: Receives non-state events.

    Returns:
        The version written, or ``None`` (non-state event, no-op snapshot).

    Raises:
        ValidationError: The event is malformed (names the field).
        PatchError: The delta is malformed or does not apply.
    """
    applier = EventApplier(store, run_id=run_id, thread_id=thread_id, on_event=on_event)
    return applier.apply(event, metadata=metadata)


def rebuild_state(events: Iterable[Any], initial: State | None = None) -> State:
    """Rebuild a state from an event stream, from scratch, without a store.

    Applies ``STATE_SNAPSHOT`` (replace) and ``STATE_DELTA`` (patch) events in
    order and ignores every other type, as an AG-UI client does.

    Args:
        events: SDK events, wire dicts or JSON texts.
        initial: The state before the first event (default ``{}``).

    Returns:
        The final state.

    Raises:
        ValidationError: An event is malformed (the message names its index).
        PatchError: A delta does not apply (the message names the event index
            and the operation).
    """
    state: State = {} if initial is None else initial
    for position, event in enumerate(events):
        try:
            incoming = read_event(event)
            if incoming.snapshot is not None:
                state = incoming.snapshot
            elif incoming.delta is not None:
                state = apply_patch(state, incoming.delta)
        except PatchError as exc:
            raise PatchError(
                f"{exc.reason} (event {position})", index=exc.index, op=exc.op, path=exc.path
            ) from exc
        except ValidationError as exc:
            raise ValidationError(f"event {position}: {exc.field}", exc.reason) from exc
    return state
