"""Live AG-UI event streams of a store: :func:`stream_events` and :func:`astream_events`.

Both are thin loops around one core, :class:`StreamCore`, which owns the
subscription, turns committed versions into events and decides when the
stream ends. They differ only in the queue between the writer's thread (where
the store calls subscribers) and the consumer: a thread-safe
:class:`queue.SimpleQueue` for the iterator, an :class:`asyncio.Queue` fed
through ``loop.call_soon_threadsafe`` for the async generator.

Ordering: the core subscribes *before* reading the baseline state, so no
commit can fall between the two; versions already contained in the baseline
are dropped when they come out of the queue. The core follows every version
(``subscribe_versions``: no values kept, so the store's writes into large
lists stay O(delta) while a stream is live), so versions that changed nothing
(a ``test``-only patch, a value set to itself) arrive too and an ``until_version`` naming one
ends the stream. Should a number still be skipped, the core sends the missed
versions from history (or, if they are no longer kept, a
``STATE_SNAPSHOT``), so the client's state is always exactly the store's and
every delta applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import Self

from agui_state.agui._sdk import BaseEvent, to_epoch_ms
from agui_state.agui._types import StoreLike
from agui_state.agui.jssafe import check_js_safe_event
from agui_state.agui.outbound import (
    consistent_state,
    run_finished_event,
    run_started_event,
    state_snapshot_event,
    version_to_event,
)
from agui_state.agui.replay import versions_between
from agui_state.errors import NotFoundError, ValidationError
from agui_state.models import State, StateVersion

__all__ = ["EventStream", "astream_events", "stream_events"]

_CLOSE = object()
"""Queue item: ``close()`` was called; end after what was queued before it."""
IDLE = object()
"""Queue item (never actually queued): the idle timeout elapsed."""
_WAKE = object()
"""Queue item: ``until_version`` changed; end if it is reached already."""


async def next_item(items: asyncio.Queue[object], timeout: float | None) -> object:
    """The next queued item, or :data:`IDLE` when none comes within ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(items.get(), timeout)
    except TimeoutError:
        return IDLE


class StreamCore:
    """The logic shared by the sync and async streams (and :mod:`.serve`).

    Args:
        store: The store to follow.
        push: Thread-safe "enqueue this item for the consumer".
        include_snapshot: Start with a ``STATE_SNAPSHOT`` of the current state.
        run_id: When given, frame the stream as a run (``RUN_STARTED`` first,
            ``RUN_FINISHED`` last).
        until_version: End after the event for this version number.
        from_version: The client already has this version: start with the
            deltas after it instead of a snapshot (a snapshot when they are
            no longer kept, or when it is not a version of the store).
        js_safe: Refuse events a JavaScript client cannot keep.
        thread_id: ``threadId`` of the run events (default: the state id).
    """

    def __init__(
        self,
        store: StoreLike,
        push: Callable[[object], None],
        *,
        include_snapshot: bool,
        run_id: str | None,
        until_version: int | None,
        from_version: int | None = None,
        js_safe: bool = True,
        thread_id: str | None = None,
    ) -> None:
        for name, value in (("until_version", until_version), ("from_version", from_version)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ValidationError(name, f"must be an integer >= 0, got {value!r}")
        self._store = store
        self._push = push
        self._include_snapshot = include_snapshot
        self._run_id = run_id
        self._thread_id = thread_id or store.state_id
        self._until = until_version
        self._from = from_version
        self._js_safe = js_safe
        self._last = 0
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = store.subscribe_versions(self._on_version)
        self.done = False

    @property
    def last(self) -> int:
        """The version the consumer is at after the events returned so far."""
        return self._last

    def _on_version(self, version: StateVersion) -> None:
        # Runs in the writer's thread during its commit: enqueue, nothing more.
        self._push(version)

    def baseline(self) -> tuple[int, State]:
        """Read the current ``(version, state)`` and make it the stream's baseline.

        Versions up to it that arrive through the subscription are dropped.
        """
        try:
            number, state = consistent_state(self._store)
        except BaseException:
            self.unsubscribe()
            raise
        self._last = number
        return number, state

    def start(self) -> list[BaseEvent]:
        """Return the opening events and set the baseline version."""
        try:
            events: list[BaseEvent] = []
            if self._run_id is not None:
                events.append(run_started_event(self._thread_id, self._run_id))
            number, state = self.baseline()
            if self._from is not None:
                events += self.catch_up_from(self._from, number, state)
            elif self._include_snapshot:
                events.append(state_snapshot_event(state, number))
            self.check(events)
            events += self.finish_if_reached()
            return events
        except BaseException:
            self.unsubscribe()
            raise

    def catch_up_from(self, after: int, number: int, state: State) -> list[BaseEvent]:
        """Return the events taking a client at version ``after`` to ``number``.

        Nothing when it is there already; the deltas in between when they are
        all kept; otherwise (pruned, or ``after`` beyond the head: a client of
        another history) a ``STATE_SNAPSHOT`` of ``state``.
        """
        if after == number:
            return []
        if after < number:
            try:
                missed = versions_between(self._store, None, after, number)
            except NotFoundError:
                pass
            else:
                return [version_to_event(v) for v in missed]
        return [state_snapshot_event(state, number)]

    def check(self, events: list[BaseEvent]) -> None:
        """Refuse (ValidationError naming the path) what a JS client cannot keep."""
        if self._js_safe:
            for event in events:
                check_js_safe_event(event)

    def finish_if_reached(self) -> list[BaseEvent]:
        """End the stream when the baseline already reaches ``until_version``."""
        if self._until is not None and self._last >= self._until and not self.done:
            return self._finish()
        return []

    def end_at(self, version: int) -> None:
        """End the stream after ``version`` (thread-safe; it may be reached already)."""
        self._until = version
        self._push(_WAKE)

    def handle(self, item: object) -> list[BaseEvent]:
        """Return the events for one queue item (a version, close, idle or wake-up)."""
        if self.done:
            return []
        if item is _WAKE:
            return self.finish_if_reached()
        if not isinstance(item, StateVersion):
            return self._finish()
        if item.number <= self._last:
            return []  # already part of the baseline, or a duplicate
        events = self._catch_up(item)
        self.check(events)
        self._last = item.number
        return events + self.finish_if_reached()

    def _catch_up(self, item: StateVersion) -> list[BaseEvent]:
        """Return the events taking a client from ``self._last`` to ``item``."""
        if item.number == self._last + 1:
            return [version_to_event(item)]
        # Skipped numbers (a subscription made mid-way, a reload): send them
        # from history so the client sees every version; if they are no
        # longer kept, resynchronise with a snapshot rather than send a delta
        # against a state the client does not have.
        try:
            missed = [self._store.get_version(n) for n in range(self._last + 1, item.number)]
        except NotFoundError:
            state = self._store.state_at(item.number)
            return [state_snapshot_event(state, item.number, to_epoch_ms(item.timestamp))]
        return [version_to_event(v) for v in [*missed, item]]

    def _finish(self) -> list[BaseEvent]:
        self.done = True
        self.unsubscribe()
        if self._run_id is None:
            return []
        return [run_finished_event(self._thread_id, self._run_id)]

    def close(self) -> None:
        """Stop following the store; the stream ends after what is queued."""
        self.unsubscribe()
        self._push(_CLOSE)

    def unsubscribe(self) -> None:
        """Drop the subscription (idempotent, any thread)."""
        with self._lock:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()


class EventStream:
    """A blocking iterator of AG-UI events for a store's new versions.

    Made by :func:`stream_events`. It ends when :meth:`close` is called (from
    any thread; versions committed before the call are still delivered), when
    no version arrives for ``timeout`` seconds, or after ``until_version``.
    Use it as a context manager so the subscription is always released.
    """

    def __init__(
        self,
        store: StoreLike,
        *,
        include_snapshot: bool = True,
        run_id: str | None = None,
        timeout: float | None = None,
        until_version: int | None = None,
        from_version: int | None = None,
        js_safe: bool = True,
        thread_id: str | None = None,
    ) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._timeout = timeout
        self._core = StreamCore(
            store,
            self._queue.put,
            include_snapshot=include_snapshot,
            run_id=run_id,
            until_version=until_version,
            from_version=from_version,
            js_safe=js_safe,
            thread_id=thread_id,
        )
        self._pending: deque[BaseEvent] = deque(self._core.start())

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> BaseEvent:
        while not self._pending:
            if self._core.done:
                raise StopIteration
            try:
                item = self._queue.get(timeout=self._timeout)
            except queue.Empty:
                item = IDLE
            self._pending.extend(self._core.handle(item))
        return self._pending.popleft()

    def close(self) -> None:
        """End the stream after the events already committed (thread-safe)."""
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._core.unsubscribe()


def stream_events(
    store: StoreLike,
    *,
    include_snapshot: bool = True,
    run_id: str | None = None,
    timeout: float | None = None,
    until_version: int | None = None,
    from_version: int | None = None,
    js_safe: bool = True,
    thread_id: str | None = None,
) -> EventStream:
    """Follow a store live: yield AG-UI events as versions are committed.

    The stream starts with a ``STATE_SNAPSHOT`` of the current state (unless
    ``include_snapshot=False``), then yields one ``STATE_DELTA`` per version
    committed afterwards, in version order.

    Example::

        with stream_events(store, run_id=run_id, timeout=30) as events:
            for frame in encode_sse(events):
                response.write(frame)

    Args:
        store: The store to follow.
        include_snapshot: Start with a snapshot of the current state.
        run_id: Frame the stream as one AG-UI run: ``RUN_STARTED``
            (``threadId`` = state id) first and ``RUN_FINISHED`` when the
            stream ends. Leave ``None`` to embed the state events in a run
            the caller frames itself.
        timeout: End the stream when no version arrives for this many
            seconds (``None``: wait forever).
        until_version: End the stream after the event of this version.
        from_version: Resume a client that already has this version: start
            with exactly the deltas after it (nothing if it is the current
            one) instead of a snapshot; a ``STATE_SNAPSHOT`` when those
            versions are no longer kept or ``from_version`` is beyond the
            current version. Overrides ``include_snapshot``.
        js_safe: Refuse, with a :class:`~agui_state.errors.ValidationError`
            naming the path, a value or key a JavaScript client cannot keep
            (:mod:`agui_state.agui.jssafe`). ``False`` sends everything.
        thread_id: ``threadId`` of the run events (default: the state id).

    Returns:
        An :class:`EventStream`: an iterator with ``close()``, usable in ``with``.
    """
    return EventStream(
        store,
        include_snapshot=include_snapshot,
        run_id=run_id,
        timeout=timeout,
        until_version=until_version,
        from_version=from_version,
        js_safe=js_safe,
        thread_id=thread_id,
    )


async def astream_events(
    store: StoreLike,
    *,
    include_snapshot: bool = True,
    run_id: str | None = None,
    timeout: float | None = None,
    until_version: int | None = None,
    from_version: int | None = None,
    js_safe: bool = True,
    thread_id: str | None = None,
) -> AsyncGenerator[BaseEvent, None]:
    """Async generator counterpart of :func:`stream_events` (same arguments).

    Store callbacks may run in any thread; they reach this generator through
    ``loop.call_soon_threadsafe``, so writers never touch the event loop's
    queue directly. Stop it with ``aclose()`` (or ``contextlib.aclosing``),
    ``timeout`` or ``until_version``; the subscription is released when the
    generator finishes or is closed.
    """
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[object] = asyncio.Queue()

    def push(item: object) -> None:
        # A closed loop means nobody is listening any more: drop the item.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(items.put_nowait, item)

    core = StreamCore(
        store,
        push,
        include_snapshot=include_snapshot,
        run_id=run_id,
        until_version=until_version,
        from_version=from_version,
        js_safe=js_safe,
        thread_id=thread_id,
    )
    try:
        for event in core.start():
            yield event
        while not core.done:
            item = await next_item(items, timeout)
            for event in core.handle(item):
                yield event
    finally:
        core.unsubscribe()
