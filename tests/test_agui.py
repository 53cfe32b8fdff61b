"""The AG-UI bridge: events out, events in, replay, live streams, SSE."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import (
    CustomEvent,
    EventType,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
)
from ag_ui.encoder import EventEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agui_state.agui import (
    EventApplier,
    aencode_sse,
    apply_event,
    astream_events,
    encode_sse,
    rebuild_state,
    replay_thread,
    run_id_of,
    snapshot_event,
    stream_events,
    to_wire,
    version_to_event,
)
from agui_state.agui.stream import StreamCore
from agui_state.backends.memory import MemoryBackend
from agui_state.errors import ConfigError, NotFoundError, PatchError, ValidationError
from agui_state.patch import diff, json_equal
from agui_state.persistent import PersistentStateStore
from agui_state.store import StateStore, StoreOptions

FIXTURE = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "agui_thread.jsonl"


def _delta(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"type": "STATE_DELTA", "delta": list(ops)}


def _add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def _types(events: Any) -> list[str]:
    return [to_wire(e)["type"] for e in events]


def _version_of(event: Any) -> int:
    number: int = event.metadata["agui_state"]["version"]
    return number


@pytest.fixture
def store() -> StateStore:
    return StateStore("thread-1")


def _two_runs(store: StateStore) -> None:
    """v1-v2 in run-a, v3 without a run, v4-v5 in run-b."""
    applier = EventApplier(store)
    applier.apply({"type": "RUN_STARTED", "threadId": "thread-1", "runId": "run-a"})
    applier.apply({"type": "STATE_SNAPSHOT", "snapshot": {"cart": [], "total": 0}})
    applier.apply(_delta(_add("/cart/-", "tea")))
    applier.apply({"type": "RUN_FINISHED", "threadId": "thread-1", "runId": "run-a"})
    store.set("/total", 4)
    applier.apply({"type": "RUN_STARTED", "threadId": "thread-1", "runId": "run-b"})
    applier.apply(_delta(_add("/cart/-", "jam")))
    applier.apply(_delta(_replace("/total", 9)))
    applier.apply({"type": "RUN_FINISHED", "threadId": "thread-1", "runId": "run-b"})


# ---------------------------------------------------------------- events out
def test_version_to_event_carries_the_delta_and_version(store: StateStore) -> None:
    version = store.apply_patch([{"op": "add", "path": "/a", "value": {"b": [1, 2]}}])
    event = version_to_event(version)
    assert isinstance(event, StateDeltaEvent)
    wire = to_wire(event)
    assert wire["type"] == "STATE_DELTA"
    assert wire["delta"] == version.delta
    assert wire["metadata"] == {"agui_state": {"version": version.number}}
    assert wire["timestamp"] == int(version.timestamp.timestamp() * 1000)


def test_version_to_event_keeps_move_from_by_alias(store: StateStore) -> None:
    store.set("/a", 1)
    version = store.apply_patch([{"op": "move", "from": "/a", "path": "/b"}])
    delta = to_wire(version_to_event(version))["delta"]
    assert delta == [{"op": "move", "from": "/a", "path": "/b"}]


def test_snapshot_event_current_and_past(store: StateStore) -> None:
    store.set("/a", 1)
    store.set("/b", 2)
    current = snapshot_event(store)
    assert isinstance(current, StateSnapshotEvent)
    assert current.snapshot == {"a": 1, "b": 2}
    assert _version_of(current) == 2
    past = snapshot_event(store, version=1)
    assert past.snapshot == {"a": 1}
    assert _version_of(past) == 1
    assert snapshot_event(store, "thread-1", 0).snapshot == {}


def test_snapshot_event_from_a_backend() -> None:
    backend = MemoryBackend()
    with PersistentStateStore(backend, "t-9") as pstore:
        pstore.set("/x", "y")
        pstore.set("/z", 1)
    assert snapshot_event(backend, "t-9").snapshot == {"x": "y", "z": 1}
    assert snapshot_event(backend, "t-9", version=1).snapshot == {"x": "y"}
    with pytest.raises(ValidationError) as info:
        snapshot_event(backend)
    assert info.value.field == "state_id"
    with pytest.raises(NotFoundError):
        snapshot_event(backend, "absent")


def test_snapshot_event_rejects_another_state_id(store: StateStore) -> None:
    with pytest.raises(ValidationError, match="does not match"):
        snapshot_event(store, "other-thread")


def test_encode_sse_uses_the_sdk_encoder(store: StateStore) -> None:
    version = store.set("/a", 1)
    events = [version_to_event(version), snapshot_event(store)]
    frames = list(encode_sse(events))
    assert frames == [EventEncoder().encode(e) for e in events]
    for frame, event in zip(frames, events, strict=True):
        assert frame.startswith("data: ") and frame.endswith("\n\n")
        assert json.loads(frame[len("data: ") :]) == to_wire(event)


def test_encode_sse_accepts_wire_dicts_and_validates_them() -> None:
    frames = list(encode_sse([{"type": "STATE_DELTA", "delta": []}]))
    assert frames == ['data: {"type":"STATE_DELTA","delta":[]}\n\n']
    with pytest.raises(ValidationError, match="messageId"):
        list(encode_sse([{"type": "TEXT_MESSAGE_END"}]))


def test_aencode_sse(store: StateStore) -> None:
    async def source() -> Any:
        yield snapshot_event(store)
        yield {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/k", "value": 1}]}

    async def collect() -> list[str]:
        return [frame async for frame in aencode_sse(source())]

    frames = asyncio.run(collect())
    assert len(frames) == 2
    assert json.loads(frames[1][6:])["delta"] == [{"op": "add", "path": "/k", "value": 1}]


# ---------------------------------------------------------------- events in
def test_delta_event_becomes_one_version_with_metadata(store: StateStore) -> None:
    version = apply_event(
        store,
        {
            "type": "STATE_DELTA",
            "delta": [
                {"op": "add", "path": "/cart", "value": []},
                {"op": "add", "path": "/cart/-", "value": "tea"},
            ],
            "timestamp": 1718000000000,
        },
        run_id="run-1",
        thread_id="thread-1",
    )
    assert version is not None
    assert store.version == 1
    assert store.get_state() == {"cart": ["tea"]}
    assert version.metadata["agui"] == {
        "type": "STATE_DELTA",
        "run_id": "run-1",
        "thread_id": "thread-1",
        "timestamp": 1718000000000,
    }


def test_snapshot_event_becomes_a_diff_version(store: StateStore) -> None:
    store.set("", {"a": 1, "b": [1, 2, 3], "c": "keep"})
    before = store.version
    version = apply_event(store, StateSnapshotEvent(snapshot={"a": 2, "b": [1, 2], "c": "keep"}))
    assert version is not None
    assert store.version == before + 1
    assert store.get_state() == {"a": 2, "b": [1, 2], "c": "keep"}
    assert version.delta == diff({"a": 1, "b": [1, 2, 3], "c": "keep"}, store.get_state())
    assert version.metadata["agui"]["type"] == "STATE_SNAPSHOT"


def test_snapshot_equal_to_the_state_writes_nothing(store: StateStore) -> None:
    store.set("/a", 1)
    assert apply_event(store, {"type": "STATE_SNAPSHOT", "snapshot": {"a": 1.0}}) is None
    assert store.version == 1


def test_event_objects_and_json_text_are_accepted(store: StateStore) -> None:
    apply_event(store, StateDeltaEvent(delta=[{"op": "add", "path": "/a", "value": None}]))
    apply_event(store, json.dumps(_delta(_add("/b", 2))))
    assert store.get_state() == {"a": None, "b": 2}


def test_applier_tracks_the_run_from_run_started(store: StateStore) -> None:
    applier = EventApplier(store)
    assert applier.apply(RunStartedEvent(thread_id="thread-1", run_id="run-7")) is None
    assert applier.run_id == "run-7"
    v1 = applier.apply({"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/a", "value": 1}]})
    v2 = applier.apply(
        {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/b", "value": 1}]}, run_id="manual"
    )
    applier.apply({"type": "RUN_FINISHED", "threadId": "thread-1", "runId": "run-7"})
    assert applier.run_id is None
    v3 = applier.apply({"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/c", "value": 1}]})
    assert v1 is not None and v2 is not None and v3 is not None
    assert v1.metadata["agui"]["run_id"] == "run-7"
    assert v1.metadata["agui"]["thread_id"] == "thread-1"
    assert v2.metadata["agui"]["run_id"] == "manual"
    assert "run_id" not in v3.metadata["agui"]
    assert run_id_of(v1) == "run-7" and run_id_of(v3) is None


def test_run_context_on_a_state_event_is_used(store: StateStore) -> None:
    version = apply_event(
        store, {"type": "STATE_DELTA", "delta": [], "runId": "r-9", "threadId": "thread-1"}
    )
    assert version is not None
    assert version.metadata["agui"]["run_id"] == "r-9"


def test_extra_metadata_is_merged(store: StateStore) -> None:
    applier = EventApplier(store, metadata={"source": "recording"})
    version = applier.apply(
        {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/a", "value": 1}]},
        metadata={"note": "x"},
    )
    assert version is not None
    assert version.metadata["source"] == "recording"
    assert version.metadata["note"] == "x"
    assert version.metadata["agui"]["type"] == "STATE_DELTA"


def test_non_state_events_are_ignored_or_handed_to_the_callback(store: StateStore) -> None:
    seen: list[Any] = []
    applier = EventApplier(store, on_event=seen.append)
    others: list[Any] = [
        {"type": "TEXT_MESSAGE_START", "messageId": "m1", "role": "assistant"},
        TextMessageContentEvent(message_id="m1", delta="hi"),
        {"type": "TOOL_CALL_START", "toolCallId": "t1", "toolCallName": "search"},
        CustomEvent(name="acme.ping", value=None),
        {"type": "RUN_ERROR", "message": "boom"},
        {"type": "MESSAGES_SNAPSHOT", "messages": []},
        {"type": "STEP_STARTED", "stepName": "plan"},
    ]
    for event in others:
        assert applier.apply(event) is None
    assert seen == others
    assert store.version == 0
    assert apply_event(store, {"type": "TEXT_MESSAGE_END", "messageId": "m1"}) is None


MALFORMED: list[tuple[Any, type[Exception], str]] = [
    (_delta({"op": "bogus", "path": "/a"}), PatchError, "unknown op"),
    (_delta(_add("a", 1)), PatchError, "JSON Pointer"),
    (_delta(_add("/a/~2", 1)), PatchError, "JSON Pointer"),
    (_delta({"op": "add", "path": "/a"}), PatchError, "'value'"),
    (_delta({"op": "move", "path": "/a"}), PatchError, "'from'"),
    ({"type": "STATE_DELTA", "delta": ["add"]}, PatchError, "not an object"),
    ({"type": "STATE_DELTA", "delta": {"op": "add"}}, PatchError, "must be a list"),
    ({"type": "STATE_DELTA"}, ValidationError, "STATE_DELTA.delta"),
    ({"type": "STATE_SNAPSHOT"}, ValidationError, "STATE_SNAPSHOT.snapshot"),
    ({"type": "STATE_SNAPSHOT", "snap_shot": {"a": 1}}, ValidationError, "snap_shot"),
    ({"type": "STATE_DELTA", "delta": [], "thread_id": "t"}, ValidationError, "use 'threadId'"),
    ({"type": "STATE_DELTA", "delta": [], "raw_event": {}}, ValidationError, "use 'rawEvent'"),
    ({"type": "STATE_SNAPSHOT", "snapshot": [1, 2]}, ValidationError, "JSON object"),
    ({"type": "STATE_SNAPSHOT", "snapshot": "text"}, ValidationError, "JSON object"),
    ({"type": "STATE_DELTA", "delta": [], "timestamp": "soon"}, ValidationError, "timestamp"),
    ({"type": "STATE_DELTA", "delta": [], "runId": 7}, ValidationError, "runId"),
    ({"type": "STATE_MUTATION", "delta": []}, ValidationError, "unknown AG-UI event type"),
    ({"type": "stateDelta", "delta": []}, ValidationError, "did you mean 'STATE_DELTA'"),
    ({"delta": []}, ValidationError, "type"),
    ({"type": 3}, ValidationError, "type"),
    ("{not json", ValidationError, "not valid JSON"),
    (["STATE_DELTA"], ValidationError, "expected an AG-UI event"),
]


@pytest.mark.parametrize(("event", "error", "text"), MALFORMED)
def test_malformed_events_are_rejected_and_change_nothing(
    store: StateStore, event: Any, error: type[Exception], text: str
) -> None:
    store.set("/a", {"b": 1})
    before = (store.version, store.get_state())
    with pytest.raises(error, match=text.replace("(", r"\(").replace("[", r"\[")):
        apply_event(store, event)
    assert (store.version, store.get_state()) == before


def test_malformed_op_error_names_the_operation(store: StateStore) -> None:
    with pytest.raises(PatchError) as info:
        apply_event(
            store,
            _delta(_add("/x", 1), _add("x", 2)),
        )
    assert (info.value.index, info.value.op, info.value.path) == (1, "add", "x")


def test_snake_case_run_started_is_rejected(store: StateStore) -> None:
    applier = EventApplier(store)
    with pytest.raises(ValidationError) as info:
        applier.apply({"type": "RUN_STARTED", "thread_id": "t", "run_id": "r"})
    assert info.value.field == "RUN_STARTED.thread_id"
    assert applier.run_id is None


def test_failing_delta_keeps_the_previous_state(store: StateStore) -> None:
    applier = EventApplier(store)
    applier.apply({"type": "STATE_SNAPSHOT", "snapshot": {"cart": ["tea"], "total": 3}})
    before = (store.version, store.get_state())
    bad = {
        "type": "STATE_DELTA",
        "delta": [
            {"op": "replace", "path": "/total", "value": 5},
            {"op": "remove", "path": "/cart/4"},
        ],
    }
    with pytest.raises(PatchError) as info:
        applier.apply(bad)
    assert (info.value.index, info.value.op, info.value.path) == (1, "remove", "/cart/4")
    assert (store.version, store.get_state()) == before
    # The applier is still usable after the failure.
    applier.apply(_delta(_replace("/total", 5)))
    assert store.get_state() == {"cart": ["tea"], "total": 5}


def test_missing_sdk_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    ours = [m for m in sys.modules if m.split(".")[:2] == ["agui_state", "agui"]]
    for name in ours:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ag_ui", None)
    monkeypatch.setitem(sys.modules, "ag_ui.core", None)
    with pytest.raises(ConfigError, match=r"pip install 'agui-state\[agui\]'"):
        importlib.import_module("agui_state.agui")


# ---------------------------------------------------------------- rebuild / replay
def test_rebuild_state_from_the_fixture() -> None:
    lines = FIXTURE.read_text().splitlines()
    state = rebuild_state(lines)
    assert state["status"] == "confirmed"
    assert [d["city"] for d in state["trip"]["days"]] == ["Lisbon", "Sintra", "Lisbon"]
    assert state["budget"]["spent"] == 745


def test_rebuild_state_names_the_failing_event() -> None:
    events = [
        {"type": "STATE_SNAPSHOT", "snapshot": {"a": 1}},
        {"type": "STATE_DELTA", "delta": [{"op": "remove", "path": "/zz"}]},
    ]
    with pytest.raises(PatchError, match="event 1") as info:
        rebuild_state(events)
    assert info.value.path == "/zz"
    with pytest.raises(ValidationError, match="event 0"):
        rebuild_state([{"type": "STATE_SNAPSHOT", "snapshot": 3}])


def test_fixture_applies_as_one_version_per_state_event() -> None:
    lines = FIXTURE.read_text().splitlines()
    target = StateStore("thread-trip-42")
    seen: list[Any] = []
    versions = EventApplier(target, on_event=seen.append).apply_all(lines)
    state_events = [line for line in lines if '"STATE_' in line]
    assert len(versions) == len(state_events) == target.version
    assert len(seen) == len(lines) - len(state_events)
    assert json_equal(target.get_state(), rebuild_state(lines))
    assert [run_id_of(v) for v in versions] == ["run-plan-1"] * 5 + ["run-plan-2"] * 3


def test_replay_groups_versions_by_run(store: StateStore) -> None:
    _two_runs(store)
    events = list(replay_thread(store))
    assert _types(events) == [
        "RUN_STARTED", "STATE_SNAPSHOT", "STATE_DELTA", "STATE_DELTA", "RUN_FINISHED",
        "RUN_STARTED", "STATE_SNAPSHOT", "STATE_DELTA", "RUN_FINISHED",
        "RUN_STARTED", "STATE_SNAPSHOT", "STATE_DELTA", "STATE_DELTA", "RUN_FINISHED",
    ]  # fmt: skip
    starts = [e for e in events if e.type == EventType.RUN_STARTED]
    assert [e.run_id for e in starts] == ["run-a", "replay-thread-1-3-3", "run-b"]
    assert {e.thread_id for e in starts} == {"thread-1"}
    finishes = [e for e in events if e.type == EventType.RUN_FINISHED]
    assert [e.run_id for e in finishes] == [e.run_id for e in starts]
    # Each run's baseline is the state before its first version.
    snapshots = [e for e in events if e.type == EventType.STATE_SNAPSHOT]
    assert [_version_of(s) for s in snapshots] == [0, 2, 3]
    for snap in snapshots:
        assert snap.snapshot == store.state_at(_version_of(snap))
    assert rebuild_state(events) == store.get_state()


def test_replay_without_grouping_is_one_synthetic_run(store: StateStore) -> None:
    _two_runs(store)
    events = list(replay_thread(store, group_by_run=False))
    assert _types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", *["STATE_DELTA"] * 5, "RUN_FINISHED"]
    assert events[0].run_id == "replay-thread-1-1-5"
    assert rebuild_state(events) == store.get_state()


def test_replay_compact_is_one_snapshot_per_run(store: StateStore) -> None:
    _two_runs(store)
    events = list(replay_thread(store, compact=True))
    assert _types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"] * 3
    snapshots = [e for e in events if e.type == EventType.STATE_SNAPSHOT]
    assert [_version_of(s) for s in snapshots] == [2, 3, 5]
    for snap in snapshots:
        assert snap.snapshot == store.state_at(_version_of(snap))
    assert rebuild_state(events) == store.get_state()


def test_replay_from_a_version(store: StateStore) -> None:
    _two_runs(store)
    events = list(replay_thread(store, from_version=3))
    assert _types(events) == [
        "RUN_STARTED", "STATE_SNAPSHOT", "STATE_DELTA", "STATE_DELTA", "RUN_FINISHED",
    ]  # fmt: skip
    assert events[1].snapshot == store.state_at(3)
    assert rebuild_state(events) == store.get_state()


def test_replay_with_nothing_after_the_baseline(store: StateStore) -> None:
    assert _types(replay_thread(store)) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"]
    _two_runs(store)
    events = list(replay_thread(store, from_version=store.version))
    assert _types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", "RUN_FINISHED"]
    assert events[1].snapshot == store.get_state()


def test_replay_from_a_backend_matches_the_store() -> None:
    backend = MemoryBackend()
    with PersistentStateStore(backend, "thread-1") as pstore:
        _two_runs(pstore)
        from_store = [to_wire(e) for e in replay_thread(pstore)]
    from_backend = [to_wire(e) for e in replay_thread(backend, "thread-1")]
    assert from_backend == from_store
    with pytest.raises(ValidationError, match="state_id"):
        list(replay_thread(backend))


def test_replay_rejects_bad_arguments(store: StateStore) -> None:
    with pytest.raises(ValidationError, match="from_version"):
        replay_thread(store, from_version=-1)
    with pytest.raises(NotFoundError):
        replay_thread(store, from_version=5)


def test_replayed_events_applied_elsewhere_keep_runs_and_versions(store: StateStore) -> None:
    _two_runs(store)
    copy = StateStore("thread-1")
    EventApplier(copy).apply_all(to_wire(e) for e in replay_thread(store))
    assert copy.version == store.version
    assert copy.get_state() == store.get_state()
    originals = [run_id_of(v) for v in reversed(store.history())]
    assert [run_id_of(v) for v in reversed(copy.history())] == [
        r or f"replay-thread-1-{n}-{n}" for n, r in enumerate(originals, start=1)
    ]


# ---------------------------------------------------------------- round trips
_keys = st.text(alphabet="ab~/ ", min_size=0, max_size=3)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=4)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_docs = st.dictionaries(_keys, _json, max_size=5)


def _build(docs: list[dict[str, Any]], runs: list[int]) -> StateStore:
    source = StateStore("thread-h")
    for doc, run in zip(docs, runs, strict=False):
        patch = diff(source.get_state(), doc)
        if patch:
            meta = {"agui": {"type": "STATE_DELTA", "run_id": f"run-{run}"}} if run else None
            source.apply_patch(patch, metadata=meta)
    return source


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(_docs, min_size=1, max_size=6),
    runs=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    compact=st.booleans(),
)
def test_events_out_then_in_reproduce_every_version(
    docs: list[dict[str, Any]], runs: list[int], compact: bool
) -> None:
    source = _build(docs, runs)
    # Any JSON (big integers, __proto__ keys): fidelity in Python, not JS safety.
    events = list(replay_thread(source, compact=compact, js_safe=False))
    assert json_equal(rebuild_state(events), source.get_state())
    # Through the wire (JSON text) into a fresh store, checking every step.
    target = StateStore("thread-h")
    applier = EventApplier(target)
    for event in events:
        applier.apply(json.dumps(to_wire(event)))
        if event.type in (EventType.STATE_DELTA, EventType.STATE_SNAPSHOT):
            assert json_equal(target.get_state(), source.state_at(_version_of(event)))
    if not compact:
        assert target.version == source.version


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(_docs, min_size=1, max_size=5))
def test_live_stream_reproduces_every_version(docs: list[dict[str, Any]]) -> None:
    source = StateStore("thread-live")
    source.set("/start", True)
    with stream_events(source, timeout=5, js_safe=False) as stream:
        for doc in docs:
            patch = diff(source.get_state(), doc)
            if patch:
                source.apply_patch(patch)
        stream.close()
        events = list(stream)
    assert events[0].type == EventType.STATE_SNAPSHOT
    assert events[0].snapshot == {"start": True}
    state: dict[str, Any] = {}
    for n, event in enumerate(events):
        state = rebuild_state([event], initial=state)
        assert json_equal(state, source.state_at(_version_of(event))), n
    assert _version_of(events[-1]) == source.version


# ---------------------------------------------------------------- live streams
def test_stream_starts_with_a_snapshot_and_frames_a_run(store: StateStore) -> None:
    store.set("/a", 1)
    with stream_events(store, run_id="live-1", until_version=3) as stream:
        store.set("/b", 2)
        store.delete("/a")
        events = list(stream)
    assert _types(events) == [
        "RUN_STARTED", "STATE_SNAPSHOT", "STATE_DELTA", "STATE_DELTA", "RUN_FINISHED",
    ]  # fmt: skip
    assert events[0].thread_id == "thread-1" and events[0].run_id == "live-1"
    assert [_version_of(e) for e in events[1:4]] == [1, 2, 3]
    assert rebuild_state(events) == {"b": 2}


def test_stream_without_snapshot_only_sends_new_versions(store: StateStore) -> None:
    store.set("/a", 1)
    with stream_events(store, include_snapshot=False, until_version=2) as stream:
        store.set("/b", 2)
        events = list(stream)
    assert _types(events) == ["STATE_DELTA"]
    assert _version_of(events[0]) == 2


def test_stream_follows_a_writer_thread(store: StateStore) -> None:
    count = 40

    def writer() -> None:
        for i in range(count):
            store.set(f"/k{i % 7}", i)

    with stream_events(store, until_version=count, timeout=30) as stream:
        thread = threading.Thread(target=writer)
        thread.start()
        events = list(stream)
        thread.join()
    assert [_version_of(e) for e in events] == list(range(count + 1))
    assert rebuild_state(events) == store.get_state()


def test_stream_close_from_another_thread_ends_it(store: StateStore) -> None:
    stream = stream_events(store, run_id="r")
    first = next(stream)
    assert first.type == EventType.RUN_STARTED
    got: list[Any] = []
    started = threading.Event()

    def consume() -> None:
        started.set()
        got.extend(stream)

    consumer = threading.Thread(target=consume)
    consumer.start()
    started.wait()
    store.set("/a", 1)
    stream.close()
    consumer.join(timeout=30)
    assert not consumer.is_alive()
    assert _types(got) == ["STATE_SNAPSHOT", "STATE_DELTA", "RUN_FINISHED"]
    store.set("/b", 2)  # after close: nobody is subscribed any more
    assert list(stream) == []


def test_stream_ends_after_the_idle_timeout(store: StateStore) -> None:
    events = list(stream_events(store, timeout=0.01))
    assert _types(events) == ["STATE_SNAPSHOT"]


def test_stream_sends_versions_that_changed_nothing(store: StateStore) -> None:
    with stream_events(store, until_version=3) as stream:
        store.set("/a", 1)
        # Changes nothing, so subscribers are not notified of version 2.
        store.apply_patch([{"op": "test", "path": "/a", "value": 1}])
        store.set("/b", 2)
        events = list(stream)
    assert _types(events) == ["STATE_SNAPSHOT", "STATE_DELTA", "STATE_DELTA", "STATE_DELTA"]
    assert [_version_of(e) for e in events] == [0, 1, 2, 3]
    assert rebuild_state(events) == {"a": 1, "b": 2}


def test_stream_resyncs_with_a_snapshot_when_history_is_gone() -> None:
    store = StateStore("thread-1", options=StoreOptions(max_history=1))
    queued: list[Any] = []
    core = StreamCore(store, queued.append, include_snapshot=True, run_id=None, until_version=None)
    assert _types(core.start()) == ["STATE_SNAPSHOT"]
    store.set("/a", 1)
    store.set("/b", 2)
    store.set("/c", 3)
    v1, v2, v3 = queued
    assert _types(core.handle(v1)) == ["STATE_DELTA"]
    resync = core.handle(v3)  # as if v2 had not been notified; it is no longer kept
    assert _types(resync) == ["STATE_SNAPSHOT"]
    assert resync[0].snapshot == {"a": 1, "b": 2, "c": 3}
    assert _version_of(resync[0]) == 3
    assert core.handle(v2) == []
    core.unsubscribe()


def test_async_stream(store: StateStore) -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        agen = astream_events(store, run_id="arun", until_version=3)
        events.append(await agen.__anext__())  # RUN_STARTED
        events.append(await agen.__anext__())  # snapshot: subscribed by now

        def write() -> None:
            for i in range(3):
                store.set(f"/n{i}", i)

        await loop.run_in_executor(None, write)
        events.extend([e async for e in agen])
        return events

    events = asyncio.run(main())
    assert _types(events) == ["RUN_STARTED", "STATE_SNAPSHOT", *["STATE_DELTA"] * 3, "RUN_FINISHED"]
    assert rebuild_state(events) == {"n0": 0, "n1": 1, "n2": 2}


def test_async_stream_timeout_and_aclose(store: StateStore) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        idle = [e async for e in astream_events(store, timeout=0.01)]
        agen = astream_events(store)
        first = await agen.__anext__()
        await agen.aclose()
        return idle, [first]

    idle, first = asyncio.run(main())
    assert _types(idle) == ["STATE_SNAPSHOT"]
    assert _types(first) == ["STATE_SNAPSHOT"]
    store.set("/after", 1)  # the closed generator's subscription is gone: no error


class _CountingStore:
    """A store proxy counting live subscriptions (to check they are released)."""

    def __init__(self, store: StateStore) -> None:
        self.inner = store
        self.active = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def subscribe_versions(self, callback: Any) -> Any:
        unsubscribe = self.inner.subscribe_versions(callback)
        self.active += 1

        def release() -> None:
            self.active -= 1
            unsubscribe()

        return release


def test_streams_release_their_subscription(store: StateStore) -> None:
    counting = _CountingStore(store)
    assert _types(stream_events(counting, timeout=0.01)) == ["STATE_SNAPSHOT"]
    with stream_events(counting) as stream:
        next(stream)
        assert counting.active == 1
    assert counting.active == 0
    stream = stream_events(counting, until_version=1)
    store.set("/a", 1)
    assert len(list(stream)) == 2
    assert counting.active == 0

    async def main() -> None:
        agen = astream_events(counting)
        await agen.__anext__()
        assert counting.active == 1
        await agen.aclose()

    asyncio.run(main())
    assert counting.active == 0


class _InterferingStore(_CountingStore):
    """A proxy whose first transaction loses to a concurrent writer."""

    def __init__(self, store: StateStore) -> None:
        super().__init__(store)
        self.transactions = 0

    def transaction(self) -> Any:
        tx = self.inner.transaction()
        self.transactions += 1
        if self.transactions == 1:
            self.inner.set("/other", "concurrent")
        return tx


def test_snapshot_diff_is_retried_when_another_writer_commits_first(store: StateStore) -> None:
    store.set("/a", 1)
    proxy = _InterferingStore(store)
    version = apply_event(proxy, {"type": "STATE_SNAPSHOT", "snapshot": {"a": 2}})
    assert proxy.transactions == 2
    assert version is not None and version.number == 3
    assert store.get_state() == {"a": 2}  # the snapshot replaced the state wholesale


def test_replay_of_a_persistent_store_reads_past_its_memory_window() -> None:
    backend = MemoryBackend()
    options = StoreOptions(max_history=2)
    with PersistentStateStore(backend, "thread-p", options=options) as pstore:
        for i in range(6):
            pstore.set(f"/k{i}", i)
        with pytest.raises(NotFoundError):
            pstore.state_at(1)
        events = list(replay_thread(pstore))
        deltas = [e for e in events if e.type == EventType.STATE_DELTA]
        assert [_version_of(e) for e in deltas] == list(range(1, 7))
        assert rebuild_state(events) == pstore.get_state()
