"""StateStore under concurrent threads: no lost updates, gap-free versions, ordered callbacks."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from agui_state.errors import ConflictError
from agui_state.store import StateChange, StateStore

THREADS = 8
ROUNDS = 200


def run_threads(target: Callable[[int], None], n: int = THREADS) -> None:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def assert_gap_free(store: StateStore) -> None:
    history = store.history(limit=100_000)
    assert [v.number for v in history] == list(range(store.version, 0, -1))
    for newer, older in itertools.pairwise(history):
        assert newer.parent_id == older.id


def test_transactions_with_retry_lose_no_update() -> None:
    store = StateStore("c")
    store.set("/count", 0)
    conflicts = [0] * THREADS

    def worker(i: int) -> None:
        for _ in range(ROUNDS):
            while True:
                try:
                    with store.transaction() as tx:
                        tx.set("/count", tx.get("/count") + 1)
                    break
                except ConflictError:
                    conflicts[i] += 1

    run_threads(worker)
    assert store.get("/count") == THREADS * ROUNDS
    assert store.version == THREADS * ROUNDS + 1
    assert_gap_free(store)


def test_concurrent_patches_on_separate_keys() -> None:
    store = StateStore("c")
    for i in range(THREADS):
        store.set(f"/t{i}", [])

    def worker(i: int) -> None:
        for n in range(ROUNDS):
            store.apply_patch([{"op": "add", "path": f"/t{i}/-", "value": n}])

    run_threads(worker)
    for i in range(THREADS):
        assert store.get(f"/t{i}") == list(range(ROUNDS))
    assert store.version == THREADS * (ROUNDS + 1)
    assert_gap_free(store)
    # Every intermediate version is reconstructible: version n holds n - THREADS appends.
    for n in (THREADS, THREADS + 1, store.version // 2, store.version - 1):
        state = store.state_at(n)
        assert sum(len(state[f"t{i}"]) for i in range(THREADS)) == n - THREADS


def test_readers_always_see_a_consistent_state() -> None:
    store = StateStore("c")
    store.set("", {"a": 0, "b": 0})
    torn: list[Any] = []
    done = threading.Event()

    def writer() -> None:
        for n in range(1, 400):
            store.apply_patch(
                [
                    {"op": "replace", "path": "/a", "value": n},
                    {"op": "replace", "path": "/b", "value": n},
                ]
            )
        done.set()

    def reader() -> None:
        while not done.is_set():
            state = store.get_state()
            if state["a"] != state["b"]:
                torn.append(state)
            number = store.version
            if store.state_at(number)["a"] != number - 1:
                torn.append(number)

    run_threads(lambda i: writer() if i == 0 else reader(), n=3)
    assert torn == []


def test_callbacks_are_delivered_in_version_order_across_threads() -> None:
    store = StateStore("c")
    seen: list[int] = []
    store.subscribe("", lambda change: seen.append(change.version.number))
    per_key: dict[str, list[int]] = {}

    def on_key(change: StateChange) -> None:
        per_key.setdefault(change.path, []).append(change.new)

    for i in range(4):
        store.subscribe(f"/k{i}", on_key)

    def worker(i: int) -> None:
        for n in range(100):
            store.set(f"/k{i}", n)

    run_threads(worker, n=4)
    assert seen == list(range(1, 401))
    for i in range(4):
        assert per_key[f"/k{i}"] == list(range(100))


def test_callbacks_writing_back_under_concurrency() -> None:
    store = StateStore("c")
    store.set("/mirror", {})

    def mirror(change: StateChange) -> None:
        key = change.path.rsplit("/", 1)[1]
        store.set(f"/mirror/{key}", change.new)

    for i in range(4):
        store.subscribe(f"/k{i}", mirror)

    def worker(i: int) -> None:
        for n in range(50):
            store.set(f"/k{i}", n)

    run_threads(worker, n=4)
    assert store.get("/mirror") == {f"k{i}": 49 for i in range(4)}
    assert_gap_free(store)
