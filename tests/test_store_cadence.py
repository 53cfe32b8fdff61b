"""StateStore checkpoint cadence: size-aware, bounded by a version count, same on reload."""

from __future__ import annotations

import math
from typing import Any

import pytest

from agui_state.errors import ConfigError
from agui_state.store import StateStore
from agui_state.store.cadence import delta_bytes
from agui_state.store.limits import StoreOptions


def big_state(items: int = 200) -> dict[str, Any]:
    return {"items": [{"id": i, "text": "x" * 40} for i in range(items)], "n": 0}


def checkpoints(store: StateStore) -> list[int]:
    return [n for n in range(1, store.version + 1) if store.get_version(n).checkpoint is not None]


def store_with(**options: Any) -> StateStore:
    store = StateStore("c", options=StoreOptions(max_history=None, **options))
    return store


def test_small_deltas_on_a_large_state_defer_checkpoints_to_the_count_bound() -> None:
    store = store_with(
        checkpoint_interval=10, checkpoint_bytes_ratio=0.5, max_checkpoint_interval=50
    )
    store.set("", big_state())  # version 1: a delta as large as the state
    for i in range(119):
        store.set("/n", i)  # ~30 bytes each, against a ~10 KB state
    # Version 10 is due (version 1's bytes); then only the count bound applies.
    assert checkpoints(store) == [10, 60, 110]


def test_large_deltas_checkpoint_at_every_due_version() -> None:
    store = store_with(
        checkpoint_interval=10, checkpoint_bytes_ratio=0.5, max_checkpoint_interval=50
    )
    for i in range(30):
        store.set("", {"blob": str(i) * 500})  # each delta rewrites the whole state
    assert checkpoints(store) == [10, 20, 30]


def test_bytes_rule_fires_between_count_bounds() -> None:
    store = store_with(
        checkpoint_interval=10, checkpoint_bytes_ratio=1.0, max_checkpoint_interval=1000
    )
    store.set("", big_state())
    size = store.state_bytes
    per_write = delta_bytes([{"op": "replace", "path": "/items/0/text", "value": "y" * 200}])
    for _ in range(99):
        store.set("/items/0/text", "y" * 200)
    first, second = checkpoints(store)[:2]
    assert first == 10  # version 1 wrote the whole state
    # Then the first multiple of 10 at which the bytes since version 10 reach the state's size.
    needed = math.ceil(size / per_write)
    assert second == 10 + math.ceil(needed / 10) * 10
    assert second < 100


def test_without_ratio_every_kth_version_carries_a_checkpoint() -> None:
    store = store_with(checkpoint_interval=7, checkpoint_bytes_ratio=None)
    store.set("", big_state())
    for i in range(29):
        store.set("/n", i)
    assert checkpoints(store) == [7, 14, 21, 28]


def test_state_at_is_exact_across_skipped_checkpoints() -> None:
    store = store_with(
        checkpoint_interval=4, checkpoint_bytes_ratio=0.5, max_checkpoint_interval=20
    )
    store.set("", big_state(50))
    states = {1: store.get_state()}
    for i in range(60):
        store.set(f"/items/{i % 50}/id", -i)
        states[store.version] = store.get_state()
    assert checkpoints(store) == [4, 24, 44]
    for number, state in states.items():
        assert store.state_at(number) == state


def test_reload_places_checkpoints_as_the_writes_did() -> None:
    opts = dict(checkpoint_interval=5, checkpoint_bytes_ratio=0.5, max_checkpoint_interval=25)
    writer = store_with(**opts)
    writer.set("", big_state(30))
    for i in range(70):
        writer.set("/n", i)
    reader = store_with(**opts)
    versions = [writer.get_version(n) for n in range(1, writer.version + 1)]
    reader.load_history(0, {}, versions)
    assert checkpoints(reader) == checkpoints(writer) == [5, 30, 55]
    # Writes after the reload continue the same cadence.
    for i in range(30):
        writer.set("/n", -i)
        reader.set("/n", -i)
    assert checkpoints(reader) == checkpoints(writer)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "0.5"])
def test_bad_ratio_is_refused_by_name(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        StoreOptions(checkpoint_bytes_ratio=bad)
    assert "checkpoint_bytes_ratio" in str(info.value)


def test_bad_count_bound_is_refused_by_name() -> None:
    with pytest.raises(ConfigError) as info:
        StoreOptions(max_checkpoint_interval=0)
    assert "max_checkpoint_interval" in str(info.value)
