"""serve_run: the request's run, the right catch-up, live deltas, errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from agui_state.agui import (
    aencode_sse,
    astream_events,
    rebuild_state,
    replay_thread,
    serve_run,
)
from agui_state.backends.memory import MemoryBackend
from agui_state.config import StorageConfig
from agui_state.errors import StorageError, ValidationError
from agui_state.persistent import PersistentStateStore
from agui_state.store import StateStore, StoreOptions
from tests.agui._helpers import (
    collect,
    findings,
    findings_after,
    run_input,
    types,
    version_of,
)


@pytest.fixture
def store() -> StateStore:
    s = StateStore("thread-1")
    s.set("/items", [])  # 1
    s.apply_patch([{"op": "add", "path": "/items/-", "value": "a"}])  # 2
    s.set("/total", 3)  # 3
    s.apply_patch([{"op": "test", "path": "/total", "value": 3}])  # 4 (changes nothing)
    s.set("/a~0b~1", {"c/d": "ü"})  # 5
    return s


def test_client_at_head_gets_no_state_events(store: StateStore) -> None:
    events = collect(serve_run(store, run_input(store.get_state(), "T", "R")))
    assert types(events) == ["RUN_STARTED", "RUN_FINISHED"]
    assert (events[0].thread_id, events[0].run_id) == ("T", "R")
    assert (events[-1].thread_id, events[-1].run_id) == ("T", "R")
    assert findings_after(store.get_state(), events) == []


def test_client_at_a_stored_version_gets_only_what_came_after(store: StateStore) -> None:
    events = collect(serve_run(store, run_input(store.state_at(2))))
    assert types(events) == ["RUN_STARTED"] + ["STATE_DELTA"] * 3 + ["RUN_FINISHED"]
    assert [version_of(e) for e in events[1:-1]] == [3, 4, 5]
    assert rebuild_state(events, initial=store.state_at(2)) == store.get_state()
    assert findings_after(store.state_at(2), events) == []


def test_fresh_client_gets_the_whole_history_as_deltas(store: StateStore) -> None:
    events = collect(serve_run(store, run_input({})))
    assert [version_of(e) for e in events[1:-1]] == [1, 2, 3, 4, 5]
    assert rebuild_state(events) == store.get_state()
    assert findings_after({}, events) == []


def test_stale_client_is_resynchronised_by_a_snapshot(store: StateStore) -> None:
    events = collect(serve_run(store, run_input({"items": ["stale"]})))
    assert types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"]
    assert events[1].snapshot == store.get_state() and version_of(events[1]) == 5
    assert findings(events) == []


@pytest.mark.parametrize("state", [None, {}, {"total": 3}])
def test_snapshot_when_asked(store: StateStore, state: Any) -> None:
    events = collect(serve_run(store, run_input(state), snapshot=True))
    assert types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"]
    assert findings(events) == []


def test_no_state_in_the_request_means_a_snapshot(store: StateStore) -> None:
    events = collect(serve_run(store, run_input(None)))
    assert types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"]


def test_last_event_id_resumes_with_exactly_the_missed_deltas(store: StateStore) -> None:
    # The client's state is irrelevant when it names its version.
    events = collect(serve_run(store, run_input({"junk": 1}), last_event_id="3"))
    assert [version_of(e) for e in events[1:-1]] == [4, 5]
    events = collect(serve_run(store, run_input({"junk": 1}), from_version=4))
    assert [version_of(e) for e in events[1:-1]] == [5]
    events = collect(serve_run(store, run_input(), last_event_id=5))
    assert types(events) == ["RUN_STARTED", "RUN_FINISHED"]


def test_resume_from_pruned_or_unknown_versions_sends_a_snapshot() -> None:
    s = StateStore("t", options=StoreOptions(max_history=2))
    for i in range(6):
        s.set("/n", i)
    for last in ("1", "99"):
        events = collect(serve_run(s, run_input(), last_event_id=last))
        assert types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"]
        assert events[1].snapshot == {"n": 5}
    events = collect(serve_run(s, run_input(), last_event_id="4"))
    assert [version_of(e) for e in events[1:-1]] == [5, 6]


@pytest.mark.parametrize("bad", ["abc", "-1", "3.5"])
def test_bad_last_event_id_is_refused_before_any_event(store: StateStore, bad: str) -> None:
    with pytest.raises(ValidationError, match="Last-Event-ID"):
        serve_run(store, run_input(), last_event_id=bad)


def test_bad_request_is_refused_naming_the_field(store: StateStore) -> None:
    with pytest.raises(ValidationError, match=r"RunAgentInput\.runId"):
        serve_run(store, {"threadId": "t", "messages": []})
    with pytest.raises(ValidationError, match="RunAgentInput"):
        serve_run(store, "{not json")


def test_agent_writes_are_streamed_live_and_end_the_run(store: StateStore) -> None:
    async def agent() -> None:
        for i in range(3):
            store.set("/step", i)
            await asyncio.sleep(0)
        store.apply_patch([{"op": "test", "path": "/step", "value": 2}])  # no-op last

    events = collect(serve_run(store, run_input(store.get_state()), agent=agent))
    assert types(events) == ["RUN_STARTED"] + ["STATE_DELTA"] * 4 + ["RUN_FINISHED"]
    assert [version_of(e) for e in events[1:-1]] == [6, 7, 8, 9]
    assert findings_after(store.state_at(5), events) == []


def test_concurrent_writer_thread_during_a_run(store: StateStore) -> None:
    done = threading.Event()

    def writer() -> None:
        for i in range(30):
            store.set(f"/w{i % 4}", i)
        done.set()

    async def agent() -> None:
        thread = threading.Thread(target=writer)
        thread.start()
        await asyncio.to_thread(done.wait)
        thread.join()

    events = collect(serve_run(store, run_input({"stale": True}), agent=agent))
    assert types(events)[:2] == ["RUN_STARTED", "STATE_SNAPSHOT"]
    assert version_of(events[-2]) == store.version == 35
    assert rebuild_state(events) == store.get_state()
    assert findings(events) == []


def test_agent_failure_ends_the_run_with_run_error(store: StateStore) -> None:
    async def agent() -> None:
        store.set("/x", 1)
        raise RuntimeError("model quota exceeded")

    base = store.get_state()
    events = collect(serve_run(store, run_input(base), agent=agent))
    assert types(events) == ["RUN_STARTED", "STATE_DELTA", "RUN_ERROR"]
    assert "model quota exceeded" in events[-1].message
    assert findings_after(base, events) == []


class _FailingStore:
    """A store whose reads fail like a backend that went away."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_state(self) -> Any:
        raise StorageError("connection to the backend lost")


def test_store_failure_ends_the_run_with_run_error(store: StateStore) -> None:
    events = collect(serve_run(_FailingStore(store), run_input({})))  # type: ignore[arg-type]
    assert types(events) == ["RUN_STARTED", "RUN_ERROR"]
    assert "connection to the backend lost" in events[1].message
    assert events[1].code == "StorageError"
    # Nothing could be read, so no snapshot: the validator's only remark.
    assert [f.split()[0] for f in findings(events)] == ["AGUI305"]


def test_js_unsafe_value_ends_the_run_with_run_error_naming_the_path(store: StateStore) -> None:
    async def agent() -> None:
        store.set("/big", 2**53)

    events = collect(serve_run(store, run_input(store.get_state()), agent=agent))
    assert types(events) == ["RUN_STARTED", "RUN_ERROR"]
    assert "/big" in events[1].message and "2^53" in events[1].message
    # Off: sent as is (for clients that keep big integers).
    store2 = StateStore("t")
    store2.set("/big", 2**53 + 1)
    events = collect(serve_run(store2, run_input(), js_safe=False))
    assert events[1].snapshot == {"big": 2**53 + 1}


def test_until_version_and_timeout_end_a_run_without_agent(store: StateStore) -> None:
    async def main() -> list[Any]:
        agen = serve_run(store, run_input(store.get_state()), until_version=7, timeout=20)
        first = await agen.__anext__()
        store.set("/p", 1)
        store.set("/p", 1)  # a no-op version ends it
        return [first] + [e async for e in agen]

    events = asyncio.run(main())
    assert [version_of(e) for e in events[1:-1]] == [6, 7]
    idle = collect(serve_run(store, run_input(store.get_state()), timeout=0.05))
    assert types(idle) == ["RUN_STARTED", "RUN_FINISHED"]


def test_backend_source_serves_the_catch_up() -> None:
    backend = MemoryBackend(StorageConfig(type="memory"))
    with PersistentStateStore(backend, "thread-b") as pstore:
        for i in range(4):
            pstore.set("/n", i)
        head = pstore.get_state()
        at2 = pstore.state_at(2)
    events = collect(serve_run(backend, run_input(at2, thread="thread-b")))
    assert [version_of(e) for e in events[1:-1]] == [3, 4]
    assert rebuild_state(events, initial=at2) == head
    events = collect(serve_run(backend, run_input({"x": 0}, thread="thread-b")))
    assert types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"]
    missing = collect(serve_run(backend, run_input({}, thread="nope")))
    assert types(missing) == ["RUN_STARTED", "RUN_ERROR"] and "nope" in missing[1].message
    backend.close()


def test_sse_frames_carry_the_version_as_id(store: StateStore) -> None:
    async def frames() -> list[str]:
        events = serve_run(store, run_input(store.state_at(2)))
        return [f async for f in aencode_sse(events, ids=True)]

    out = asyncio.run(frames())
    assert out[0].startswith("data: ") and '"RUN_STARTED"' in out[0]
    assert [f.split("\n")[0] for f in out[1:-1]] == ["id: 3", "id: 4", "id: 5"]
    assert out[-1].startswith("data: ") and out[-1].endswith("\n\n")


def test_astream_events_from_version(store: StateStore) -> None:
    async def main(after: int) -> list[Any]:
        agen = astream_events(store, from_version=after, until_version=5)
        return [e async for e in agen]

    assert [version_of(e) for e in asyncio.run(main(2))] == [3, 4, 5]
    assert asyncio.run(main(5)) == []
    assert types(asyncio.run(main(9))) == ["STATE_SNAPSHOT"]


def test_replay_with_the_requests_thread_and_run_ids(store: StateStore) -> None:
    events = list(replay_thread(store, thread_id="client-thread", run_id="client-run"))
    assert types(events) == ["RUN_STARTED", "STATE_SNAPSHOT"] + ["STATE_DELTA"] * 5 + [
        "RUN_FINISHED"
    ]
    assert {(e.thread_id, e.run_id) for e in (events[0], events[-1])} == {
        ("client-thread", "client-run")
    }
    assert findings(events) == []


def test_stream_events_from_version_resumes_pruned_with_a_snapshot() -> None:
    from agui_state.agui import stream_events

    s = StateStore("t", options=StoreOptions(max_history=3))
    for i in range(8):
        s.set("/n", i)
    assert [version_of(e) for e in stream_events(s, from_version=6, until_version=8)] == [7, 8]
    pruned = list(stream_events(s, from_version=2, until_version=8))
    assert types(pruned) == ["STATE_SNAPSHOT"] and pruned[0].snapshot == {"n": 7}
    with pytest.raises(ValidationError, match="from_version"):
        stream_events(s, from_version=-1)


class _DownBackend(MemoryBackend):
    """Accepts reads; every write fails, like a database that went away."""

    def begin_transaction(self) -> Any:
        raise StorageError("connection refused (database is down)")


def test_run_finishes_only_when_async_versions_are_durable() -> None:
    backend = _DownBackend(StorageConfig(type="memory"))
    store = PersistentStateStore(backend, "t", synchronous=False, max_retries=0)

    async def agent() -> None:
        store.set("/x", 1)  # in memory at once; its write fails in the background

    events = collect(serve_run(store, run_input({}), agent=agent))
    assert types(events) == ["RUN_STARTED", "STATE_DELTA", "RUN_ERROR"]
    assert "could not be persisted" in events[-1].message
    assert "database is down" in events[-1].message
    ok = MemoryBackend(StorageConfig(type="memory"))
    with PersistentStateStore(ok, "t", synchronous=False) as good:

        async def agent2() -> None:
            good.set("/x", 1)

        events = collect(serve_run(good, run_input({}), agent=agent2))
        assert types(events)[-1] == "RUN_FINISHED"
        assert ok.head_version("t") == 1  # durable when RUN_FINISHED was sent
    with pytest.raises(StorageError):
        store.close(timeout=0.2)
