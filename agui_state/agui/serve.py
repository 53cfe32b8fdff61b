"""Serving one AG-UI run: :func:`serve_run`.

An AG-UI 1.0 client POSTs a ``RunAgentInput`` (``threadId``, ``runId``, its
current ``state``, ...) and reads back the events of *that* run. For shared
state the server must bring the client from the state it has to the store's,
then follow the store while the run goes on. :func:`serve_run` does exactly
that, in this order:

1. ``RUN_STARTED`` with the request's ``threadId`` and ``runId``;
2. the catch-up, chosen from what the client has:

   * nothing, when its state already equals the store's head;
   * only the deltas after version *N*, when the client is known to be at
     *N*: an explicit ``from_version``, a ``Last-Event-ID`` (SSE frames carry
     ``id:`` = version, see :func:`~agui_state.agui.aencode_sse`), or a
     ``state`` equal to the stored state at *N* (searched among the last
     ``match_window`` versions, latest first);
   * a ``STATE_SNAPSHOT`` otherwise (a stale or unknown state, versions
     pruned), or when ``snapshot=True``. ``@ag-ui/client`` skips a delta
     that does not apply with only a warning, so a delta is never sent
     against a state the client is not known to have;
3. live ``STATE_DELTA`` events as versions are committed, until the run
   ends: when ``agent`` (run concurrently) returns, after the versions it
   wrote; at ``until_version``; after ``timeout`` idle seconds; or at once
   when none of these is given (a catch-up-only run);
4. ``RUN_FINISHED`` (with an agent and an asynchronous store: once the
   run's versions are durable); or ``RUN_ERROR`` with a message when the
   store fails (reading, or persisting the run's versions), the agent
   raises, or a value cannot be sent (``js_safe``, see
   :mod:`agui_state.agui.jssafe`).

Subscribing happens before the head is read, so no commit can fall between
the catch-up and the live part (see :mod:`agui_state.agui.stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from agui_state.agui._sdk import (
    BaseEvent,
    PydanticValidationError,
    RunAgentInput,
    RunErrorEvent,
    to_epoch_ms,
)
from agui_state.agui._types import Source, StoreLike
from agui_state.agui.jssafe import check_js_safe_event
from agui_state.agui.outbound import (
    resolve_source,
    run_finished_event,
    run_started_event,
    state_snapshot_event,
    version_to_event,
)
from agui_state.agui.replay import versions_between
from agui_state.agui.stream import StreamCore, next_item
from agui_state.agui.wire import decode_json
from agui_state.backends.base import StorageBackend
from agui_state.errors import NotFoundError, StateError, ValidationError, short_repr
from agui_state.models import State, replay, utcnow
from agui_state.patch import json_equal

__all__ = ["parse_last_event_id", "parse_run_input", "serve_run"]

Agent = Callable[[], Awaitable[object]]
"""The run's work: an async callable writing to the store; the run ends when it returns."""


def parse_run_input(run_input: Any) -> RunAgentInput:
    """Return a ``RunAgentInput`` from the SDK object, its wire dict or JSON text.

    Raises:
        ValidationError: Naming the field at fault (``RunAgentInput.runId``).
    """
    if isinstance(run_input, RunAgentInput):
        return run_input
    run_input = decode_json(run_input, "RunAgentInput")
    if not isinstance(run_input, Mapping):
        raise ValidationError(
            "RunAgentInput", f"expected an object or its wire dict, got {type(run_input).__name__}"
        )
    try:
        return RunAgentInput.model_validate(dict(run_input))
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "input"
        reason = (
            "missing (required field)"
            if err["type"] == "missing"
            else f"{err['msg']} (got {short_repr(err.get('input'))})"
        )
        raise ValidationError(f"RunAgentInput.{field}", reason) from exc


def parse_last_event_id(value: str | int | None) -> int | None:
    """Return the version named by an SSE ``Last-Event-ID`` (``None`` when absent).

    Raises:
        ValidationError: It is not a version number.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValidationError(
        "Last-Event-ID", f"must be a version number (the id: of a frame), got {value!r}"
    )


def serve_run(
    source: Source,
    run_input: Any,
    *,
    state_id: str | None = None,
    agent: Agent | None = None,
    from_version: int | None = None,
    last_event_id: str | int | None = None,
    snapshot: bool = False,
    until_version: int | None = None,
    timeout: float | None = None,
    js_safe: bool = True,
    match_window: int = 1000,
) -> AsyncGenerator[BaseEvent, None]:
    """Return the events answering one AG-UI run request (see the module doc).

    Example (any ASGI framework; :class:`~agui_state.agui.AGUIEndpoint` is a ready one)::

        events = serve_run(store, await request.json(), agent=my_agent,
                           last_event_id=request.headers.get("last-event-id"))
        return StreamingResponse(aencode_sse(events, ids=True),
                                 media_type="text/event-stream")

    Args:
        source: The thread's store, or a storage backend (then the state is
            ``state_id``, by default the request's ``threadId``; a backend
            has no live part, the run ends after the catch-up).
        run_input: The request: a ``RunAgentInput``, its wire dict or JSON.
        state_id: With a backend: the state to serve.
        agent: Run concurrently; the run ends after the versions committed
            before it returns. If it raises, the run ends with ``RUN_ERROR``.
        from_version: The client has this version (overrides its ``state``).
        last_event_id: An SSE ``Last-Event-ID`` header (a version number);
            used when ``from_version`` is not given.
        snapshot: Always start with a ``STATE_SNAPSHOT``.
        until_version: End the run after this version.
        timeout: End the run after this many seconds without a new version.
        js_safe: Refuse (as ``RUN_ERROR`` naming the path) values a
            JavaScript client cannot keep.
        match_window: How many recent versions the client's ``state`` is
            compared with to find its version.

    Returns:
        An async generator of SDK events (encode with ``aencode_sse``).

    Raises:
        ValidationError: The request or an argument is invalid (raised here,
            before any event, so a server can answer 4xx).
    """
    request = parse_run_input(run_input)
    resume = from_version if from_version is not None else parse_last_event_id(last_event_id)
    for name, value in (("from_version", resume), ("match_window", match_window)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValidationError(name, f"must be an integer >= 0, got {value!r}")
    if isinstance(source, StorageBackend):
        sid = state_id or request.thread_id
        return _serve_backend(source, sid, request, resume, snapshot, js_safe, match_window)
    resolve_source(source, state_id)
    return _serve_store(
        source, request, resume, snapshot, js_safe, match_window, agent, until_version, timeout
    )


def _run_error(exc: BaseException, what: str) -> RunErrorEvent:
    return RunErrorEvent(
        message=f"{what}: {exc}",
        code=type(exc).__name__,
        timestamp=to_epoch_ms(utcnow()),
    )


def _checked(events: list[BaseEvent], js_safe: bool) -> list[BaseEvent]:
    if js_safe:
        for event in events:
            check_js_safe_event(event)
    return events


def _match(
    client: Any,
    head: int,
    state: State,
    window: int,
    read_state: Callable[[int], State],
    read_versions: Callable[[int, int], list[Any]],
) -> int | None:
    """Return the newest version (within ``window``) whose state equals ``client``."""
    if not isinstance(client, dict):
        return None
    if json_equal(client, state):
        return head
    start = max(0, head - window)
    try:
        current = read_state(start)
        versions = read_versions(start, head)
    except NotFoundError:
        return None
    found = start if json_equal(client, current) else None
    for version in versions[:-1]:  # the head was compared above
        current = replay(current, [version], version.state_id)
        if json_equal(client, current):
            found = version.number
    return found


def _catch_up(
    position: int | None, head: int, state: State, read_versions: Callable[[int, int], list[Any]]
) -> list[BaseEvent]:
    if position == head:
        return []
    if position is not None and position < head:
        try:
            return [version_to_event(v) for v in read_versions(position, head)]
        except NotFoundError:
            pass  # pruned: resynchronise with a snapshot
    return [state_snapshot_event(state, head)]


async def _serve_backend(
    backend: StorageBackend,
    sid: str,
    request: RunAgentInput,
    resume: int | None,
    snapshot: bool,
    js_safe: bool,
    window: int,
) -> AsyncGenerator[BaseEvent, None]:
    yield run_started_event(request.thread_id, request.run_id)
    try:
        head = await asyncio.to_thread(backend.head_version, sid)
        state = await asyncio.to_thread(backend.state_at, sid, head)

        def read_state(n: int) -> State:
            return backend.state_at(sid, n)

        def read_versions(after: int, upto: int) -> list[Any]:
            return versions_between(backend, sid, after, upto)

        position = None if snapshot else resume
        if position is None and not snapshot:
            position = await asyncio.to_thread(
                _match, request.state, head, state, window, read_state, read_versions
            )
        events = await asyncio.to_thread(_catch_up, position, head, state, read_versions)
        for event in _checked(events, js_safe):
            yield event
    except StateError as exc:
        yield _run_error(exc, f"state {sid!r} could not be served")
        return
    yield run_finished_event(request.thread_id, request.run_id)


async def _serve_store(
    store: StoreLike,
    request: RunAgentInput,
    resume: int | None,
    snapshot: bool,
    js_safe: bool,
    window: int,
    agent: Agent | None,
    until_version: int | None,
    timeout: float | None,
) -> AsyncGenerator[BaseEvent, None]:
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[object] = asyncio.Queue()

    def push(item: object) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed: nobody listens
            loop.call_soon_threadsafe(items.put_nowait, item)

    yield run_started_event(request.thread_id, request.run_id)
    core: StreamCore | None = None
    task: asyncio.Task[object] | None = None
    try:
        core = StreamCore(
            store,
            push,
            include_snapshot=False,
            run_id=None,
            until_version=until_version,
            js_safe=js_safe,
        )
        head, state = core.baseline()

        def read_versions(after: int, upto: int) -> list[Any]:
            return versions_between(store, None, after, upto)

        position = None if snapshot else resume
        if position is None and not snapshot:
            position = _match(request.state, head, state, window, store.state_at, read_versions)
        for event in _checked(_catch_up(position, head, state, read_versions), js_safe):
            yield event
        if agent is not None:
            task = asyncio.ensure_future(agent())
            task.add_done_callback(lambda t: push(t))
        elif until_version is None and timeout is None:
            core.end_at(head)  # catch-up only
        for event in core.finish_if_reached():
            yield event
        while not core.done:
            item = await next_item(items, timeout)
            if item is task and task is not None:
                if not task.cancelled() and task.exception() is not None:
                    yield _run_error(task.exception(), "the agent failed")  # type: ignore[arg-type]
                    return
                core.end_at(store.version)  # after every version it committed
                continue
            for event in core.handle(item):
                yield event
        if task is not None:
            # An asynchronous store's versions may not be durable yet: the
            # run is only reported finished once they are.
            flush = getattr(store, "flush", None)
            if callable(flush):
                try:
                    await asyncio.to_thread(flush)
                except StateError as exc:
                    yield _run_error(exc, "the run's versions could not be persisted")
                    return
    except StateError as exc:
        yield _run_error(exc, f"state {store.state_id!r} could not be served")
        return
    finally:
        if core is not None:
            core.unsubscribe()
        if task is not None and not task.done():
            task.cancel()
    yield run_finished_event(request.thread_id, request.run_id)
