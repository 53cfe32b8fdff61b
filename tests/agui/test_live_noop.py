"""A live stream reaches ``until_version`` even when that version changed nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from agui_state.agui import astream_events, rebuild_state, stream_events
from agui_state.store import StateStore

NoOp = Callable[[StateStore], object]

NO_OPS: dict[str, NoOp] = {
    "test-only patch": lambda s: s.apply_patch([{"op": "test", "path": "/a", "value": 1}]),
    "value set to itself": lambda s: s.set("/a", 1),
    "empty patch": lambda s: s.apply_patch([]),
}


def _version_of(event: Any) -> int:
    number: int = event.metadata["agui_state"]["version"]
    return number


def _write_later(store: StateStore, no_op: NoOp) -> threading.Thread:
    def writer() -> None:
        store.set("/b", 2)  # version 2 changes something
        no_op(store)  # version 3 changes nothing

    thread = threading.Thread(target=writer)
    thread.start()
    return thread


@pytest.mark.parametrize("name", sorted(NO_OPS))
def test_sync_stream_ends_at_a_no_op_version(name: str) -> None:
    store = StateStore("t")
    store.set("/a", 1)
    # The timeout is only a safety net: had the stream ended by it, version 3
    # would be missing from the events (asserted below).
    with stream_events(store, run_id="r", until_version=3, timeout=20) as stream:
        thread = _write_later(store, NO_OPS[name])
        events = list(stream)
        thread.join()
    assert store.version == 3
    assert [e.type.value for e in events][-1] == "RUN_FINISHED"
    assert [_version_of(e) for e in events[1:-1]] == [1, 2, 3]
    assert rebuild_state(events) == store.get_state() == {"a": 1, "b": 2}


@pytest.mark.parametrize("name", sorted(NO_OPS))
def test_async_stream_ends_at_a_no_op_version(name: str) -> None:
    store = StateStore("t")
    store.set("/a", 1)

    async def main() -> list[Any]:
        agen = astream_events(store, run_id="r", until_version=3, timeout=20)
        first = [await agen.__anext__(), await agen.__anext__()]  # subscribed now
        thread = _write_later(store, NO_OPS[name])
        rest = [e async for e in agen]
        thread.join()
        return first + rest

    events = asyncio.run(main())
    assert [_version_of(e) for e in events[1:-1]] == [1, 2, 3]
    assert events[-1].type.value == "RUN_FINISHED"


def test_until_version_already_reached_by_a_no_op_ends_at_once() -> None:
    store = StateStore("t")
    store.set("/a", 1)
    store.set("/a", 1)
    events = list(stream_events(store, until_version=2, timeout=None))
    assert [e.type.value for e in events] == ["STATE_SNAPSHOT"]
    assert _version_of(events[0]) == 2
