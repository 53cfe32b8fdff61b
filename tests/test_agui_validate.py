"""Every stream we emit passes the independent AG-UI validator (ag-ui-validate).

The validator tracks shared state per run: ``AGUI302`` fires when a
``STATE_DELTA`` does not apply to the state built so far, ``AGUI303`` when a
delta is not a valid RFC 6902 document, ``AGUI301`` when a delta comes before
any snapshot (its base is then unknown and the deltas go unchecked). Our
streams must produce no error or warning and, so that every delta really is
checked, none of the state findings either.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from ag_ui_validate.pytest_plugin import validate_agui
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agui_state.agui import (
    EventApplier,
    apply_event,
    astream_events,
    encode_sse,
    replay_thread,
    stream_events,
    to_wire,
)
from agui_state.errors import PatchError
from agui_state.store import StateStore
from tests.agui._helpers import STATE_RULES, findings, validator_cli
from tests.test_agui import FIXTURE, _build, _docs, _two_runs


def _rules(events: list[Any]) -> set[str]:
    report = validate_agui(events, features=["shared-state"])
    return {d.rule for d in report.diagnostics}


@pytest.fixture
def history() -> StateStore:
    store = StateStore("thread-1")
    _two_runs(store)
    return store


@pytest.mark.parametrize("group_by_run", [True, False])
@pytest.mark.parametrize("compact", [False, True])
def test_replay_passes_the_validator(
    history: StateStore, group_by_run: bool, compact: bool
) -> None:
    for start in (0, 2, history.version):
        events = replay_thread(history, None, start, group_by_run=group_by_run, compact=compact)
        assert findings(list(events)) == []


def test_replay_of_an_empty_thread_passes_the_validator() -> None:
    assert findings(list(replay_thread(StateStore("empty")))) == []


def test_replay_of_the_recorded_fixture_passes_the_validator() -> None:
    store = StateStore("thread-trip-42")
    EventApplier(store).apply_all(FIXTURE.read_text().splitlines())
    assert findings(list(replay_thread(store))) == []


def test_live_stream_passes_the_validator(history: StateStore) -> None:
    target = history.version + 20

    def writer() -> None:
        history.set("/extra", {})
        for i in range(19):
            history.set(f"/extra/k{i % 3}", i)

    with stream_events(history, run_id="live-run", until_version=target, timeout=30) as stream:
        thread = threading.Thread(target=writer)
        thread.start()
        events = list(stream)
        thread.join()
    assert findings(events) == []


def test_async_stream_passes_the_validator(history: StateStore) -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        agen = astream_events(history, run_id="async-run", until_version=history.version + 2)
        events = [await agen.__anext__(), await agen.__anext__()]
        await loop.run_in_executor(None, history.set, "/a", 1)
        await loop.run_in_executor(None, history.delete, "/a")
        events += [e async for e in agen]
        return events

    assert findings(asyncio.run(main())) == []


@pytest.mark.parametrize("suffix", ["sse", "jsonl"])
def test_validator_cli_accepts_our_sse_and_jsonl(
    history: StateStore, tmp_path: Path, suffix: str
) -> None:
    events = list(replay_thread(history))
    path = tmp_path / f"replay.{suffix}"
    if suffix == "sse":
        path.write_text("".join(encode_sse(events)))
    else:
        path.write_text("".join(json.dumps(to_wire(e)) + "\n" for e in events))
    report = validator_cli(path)
    assert report["eventCount"] == len(events)
    assert report["summary"]["errors"] == 0 and report["summary"]["warnings"] == 0
    assert not [d for d in report["diagnostics"] if d["rule"] in STATE_RULES]
    assert report["internalErrors"] == []


BROKEN_DELTAS = [
    ([{"op": "remove", "path": "/missing"}], "AGUI302"),
    ([{"op": "test", "path": "/a", "value": 2}], "AGUI302"),
    ([{"op": "replace", "path": "/a/b", "value": 1}], "AGUI302"),
    ([{"op": "add", "path": "/list/5", "value": 1}], "AGUI302"),
    ([{"op": "jump", "path": "/a"}], "AGUI303"),
    ([{"op": "add", "path": "a", "value": 1}], "AGUI303"),
    ([{"op": "add", "path": "/b"}], "AGUI303"),
    ([{"op": "copy", "path": "/b"}], "AGUI303"),
]


@pytest.mark.parametrize(("delta", "rule"), BROKEN_DELTAS)
def test_we_reject_what_the_validator_rejects(delta: list[Any], rule: str) -> None:
    """A negative control: the validator's state checks are live, and agree with ours."""
    base = {"a": 1, "list": [0]}
    stream = [
        {"type": "RUN_STARTED", "threadId": "t", "runId": "r", "timestamp": 1},
        {"type": "STATE_SNAPSHOT", "snapshot": base, "timestamp": 2},
        {"type": "STATE_DELTA", "delta": delta, "timestamp": 3},
        {"type": "RUN_FINISHED", "threadId": "t", "runId": "r", "timestamp": 4},
    ]
    assert rule in _rules(stream)
    store = StateStore("t")
    apply_event(store, stream[1])
    with pytest.raises(PatchError):
        apply_event(store, stream[2])
    assert store.get_state() == base and store.version == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(_docs, min_size=1, max_size=6),
    runs=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    compact=st.booleans(),
)
def test_random_histories_replay_to_valid_streams(
    docs: list[dict[str, Any]], runs: list[int], compact: bool
) -> None:
    events = list(replay_thread(_build(docs, runs), compact=compact, js_safe=False))
    assert findings(events) == []
