"""A ready ASGI endpoint serving AG-UI runs from agui-state stores.

:class:`AGUIEndpoint` is an ASGI application: mount it in Starlette or
FastAPI and every ``POST`` with a ``RunAgentInput`` body is answered by
:func:`~agui_state.agui.serve_run` as Server-Sent Events (``id:`` = version,
so ``Last-Event-ID`` resumes)::

    from fastapi import FastAPI
    from agui_state.agui import AGUIEndpoint

    async def agent(store, run_input):      # the run's work
        store.set("/status", "thinking")

    endpoint = AGUIEndpoint("postgresql+psycopg://app@db/agents", agent=agent)
    app = FastAPI()
    app.add_route("/agent", endpoint, methods=["POST"])
    # or: app.mount("/agent", endpoint)

Thread stores are opened on a request's first use and shared by every
request on that thread while any is running (so one request sees the
others' writes live), then closed. Stores opened from one URL share one
backend and pool (:mod:`agui_state.backends.shared`), so this costs no
connection per thread. Starlette is imported only when the endpoint handles
a request (the ``server`` extra: ``pip install 'agui-state[server]'``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from agui_state.agui._sdk import RunAgentInput, RunErrorEvent
from agui_state.agui._types import StoreLike
from agui_state.agui.outbound import aencode_sse, encode_sse, run_started_event
from agui_state.agui.serve import parse_last_event_id, parse_run_input, serve_run
from agui_state.backends.base import StorageBackend
from agui_state.config import StorageConfig
from agui_state.errors import ConfigError, StateError, ValidationError

__all__ = ["SERVER_INSTALL_HINT", "AGUIEndpoint", "RunAgent", "ThreadStores"]

SERVER_INSTALL_HINT = "pip install 'agui-state[server]'"

_log = logging.getLogger("agui_state.agui")

RunAgent = Callable[[Any, RunAgentInput], Awaitable[object]]
"""The agent: ``await agent(store, run_input)`` does the run's writes."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _starlette() -> Any:
    try:
        import starlette.requests
        import starlette.responses
    except ImportError as exc:
        raise ConfigError(
            "server", f"the ASGI endpoint needs Starlette; install the extra: {SERVER_INSTALL_HINT}"
        ) from exc
    return starlette


class ThreadStores:
    """Thread stores opened on demand and shared while requests use them.

    Args:
        target: A backend URL, a :class:`~agui_state.config.StorageConfig`,
            a backend object (stores use it and leave it open), or a function
            ``thread_id -> store`` (then the function owns the stores: they
            are not closed here).
        **store_options: Passed to :class:`~agui_state.persistent.PersistentStateStore`.
    """

    def __init__(
        self,
        target: str | StorageConfig | StorageBackend | Callable[[str], StoreLike],
        **store_options: Any,
    ) -> None:
        self._target = target
        self._options = store_options
        self._open: dict[str, tuple[Any, int]] = {}
        self._closing: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._owns_stores = not callable(target) or isinstance(target, StorageBackend)

    def _make(self, thread_id: str) -> Any:
        if callable(self._target) and not isinstance(self._target, StorageBackend):
            return self._target(thread_id)
        from agui_state.persistent import PersistentStateStore

        return PersistentStateStore(self._target, thread_id, **self._options)

    async def acquire(self, thread_id: str) -> Any:
        """Return the thread's store, opening it if no request holds it."""
        while True:
            async with self._lock:
                closing = self._closing.get(thread_id)
                if closing is None:
                    held = self._open.get(thread_id)
                    if held is None:
                        store = await asyncio.to_thread(self._make, thread_id)
                        held = (store, 0)
                    self._open[thread_id] = (held[0], held[1] + 1)
                    return held[0]
            # Its last holder is closing it (flushing pending versions): a
            # store opened now could miss them, then conflict. Wait.
            await closing.wait()

    async def release(self, thread_id: str) -> None:
        """Drop one hold; the last one closes a store this object opened."""
        async with self._lock:
            store, count = self._open[thread_id]
            if count > 1:
                self._open[thread_id] = (store, count - 1)
                return
            del self._open[thread_id]
            if not self._owns_stores:
                return
            closed = self._closing[thread_id] = asyncio.Event()
        try:
            await asyncio.to_thread(store.close)
        finally:
            async with self._lock:
                del self._closing[thread_id]
            closed.set()

    def held(self, thread_id: str) -> Any | None:
        """Return the thread's store if a request holds it now (else ``None``)."""
        held = self._open.get(thread_id)
        return None if held is None else held[0]


class AGUIEndpoint:
    """An ASGI app answering AG-UI run requests from agui-state stores.

    Args:
        stores: Where thread stores come from: a URL, configuration, backend
            object, factory function, or a :class:`ThreadStores`.
        agent: ``await agent(store, run_input)`` runs concurrently with the
            stream; its writes are streamed live and the run ends after them.
            Without one, a request only brings the client up to date.
        snapshot: Always start runs with a ``STATE_SNAPSHOT``.
        timeout: Without an agent: keep following the thread until this many
            seconds pass without a new version.
        js_safe: Refuse values a JavaScript client cannot keep (``RUN_ERROR``).
        **store_options: For stores opened here (``synchronous=False``...).

    A request may add ``?from_version=N`` or ``?snapshot=1``; a
    ``Last-Event-ID`` header resumes after the version it names. A body that
    is not a valid ``RunAgentInput`` gets ``422`` naming the field; a store
    that cannot be opened ends the run with ``RUN_ERROR``. A client that
    disconnects ends its stream, not the run: the agent finishes, its
    versions are stored, and a reconnect with ``Last-Event-ID`` gets them.
    """

    def __init__(
        self,
        stores: str | StorageConfig | StorageBackend | Callable[[str], StoreLike] | ThreadStores,
        agent: RunAgent | None = None,
        *,
        snapshot: bool = False,
        timeout: float | None = None,
        js_safe: bool = True,
        **store_options: Any,
    ) -> None:
        self.stores = (
            stores if isinstance(stores, ThreadStores) else ThreadStores(stores, **store_options)
        )
        self.agent = agent
        self.snapshot = snapshot
        self.timeout = timeout
        self.js_safe = js_safe
        self._background: set[asyncio.Future[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI HTTP request."""
        sl = _starlette()
        if scope["type"] != "http":
            raise ConfigError("scope", f"AGUIEndpoint serves HTTP only, got {scope['type']!r}")
        request = sl.requests.Request(scope, receive)
        response = await self._respond(sl, request)
        await response(scope, receive, send)

    async def _respond(self, sl: Any, request: Any) -> Any:
        if request.method != "POST":
            return sl.responses.JSONResponse(
                {"error": "POST a RunAgentInput"}, status_code=405, headers={"Allow": "POST"}
            )
        try:
            run_input = parse_run_input(await request.body())
            query = request.query_params
            try:
                from_version = parse_last_event_id(query.get("from_version"))
            except ValidationError as exc:
                raise ValidationError("from_version", exc.reason) from exc
            last_event_id = request.headers.get("last-event-id")
            parse_last_event_id(last_event_id)
            snapshot = self.snapshot or query.get("snapshot") in ("1", "true")
        except ValidationError as exc:
            return sl.responses.JSONResponse(
                {"error": str(exc), "field": exc.field}, status_code=422
            )
        return sl.responses.StreamingResponse(
            self._frames(run_input, from_version, last_event_id, snapshot),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _frames(
        self,
        run_input: RunAgentInput,
        from_version: int | None,
        last_event_id: str | None,
        snapshot: bool,
    ) -> AsyncIterator[str]:
        # Acquired here, in the body, so a response that is never streamed
        # holds nothing.
        try:
            store = await self.stores.acquire(run_input.thread_id)
        except StateError as exc:
            failed = [
                run_started_event(run_input.thread_id, run_input.run_id),
                RunErrorEvent(
                    message=f"state of thread {run_input.thread_id!r} cannot be opened: {exc}",
                    code=type(exc).__name__,
                ),
            ]
            for frame in encode_sse(failed):
                yield frame
            return
        # The agent runs as its own task, started with the stream: a client
        # that goes away stops the stream, not the run. Its versions are
        # stored, and a reconnect with Last-Event-ID gets them.
        running: asyncio.Task[object] | None = None
        if self.agent is not None:
            running = asyncio.ensure_future(self.agent(store, run_input))
        task = running
        events = serve_run(
            store,
            run_input,
            agent=None if task is None else (lambda: asyncio.shield(task)),
            from_version=from_version,
            last_event_id=last_event_id,
            snapshot=snapshot,
            timeout=self.timeout,
            js_safe=self.js_safe,
        )
        try:
            async for frame in aencode_sse(events, ids=True):
                yield frame
        finally:
            # Stop the stream now (its subscription), not at garbage collection.
            await events.aclose()
            if running is None or running.done():
                await self.stores.release(run_input.thread_id)
            else:
                running.add_done_callback(lambda t: self._agent_done(t, run_input.thread_id))

    def _agent_done(self, task: asyncio.Task[object], thread_id: str) -> None:
        # The stream ended first (client gone): release when the agent is done.
        if not task.cancelled() and task.exception() is not None:
            _log.error(
                "agent of thread %r failed after its client left",
                thread_id,
                exc_info=task.exception(),
            )
        release = asyncio.ensure_future(self.stores.release(thread_id))
        self._background.add(release)
        release.add_done_callback(self._background.discard)
