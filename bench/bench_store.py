"""Benchmark: CPU cost of one update in the in-memory store, vs the raw patch engine.

Run from the repository root::

    .venv/bin/python bench/bench_store.py            # ~3-5 s
    .venv/bin/python bench/bench_store.py --quick    # ~1-2 s, noisier
    .venv/bin/python bench/bench_store.py --profile  # + cProfile of the 5 KB store loop

Every update is a one-op ``replace`` of a leaf in the middle of the longest
array of the ``bench_patch.py`` states (~5 KB and ~1 MB of JSON), with a new
value each time. Measured, in the same process:

* ``StateStore.apply_patch``: µs per update (validation, patch, limits, size
  estimate, version, history, the returned copy), next to
* ``agui_state.patch.apply_patch`` on the same document and patch, the raw
  structural-sharing engine: the floor the store is compared with. Target:
  the store within 5x the engine at both sizes, and the 1 MB update within
  2x the 5 KB one (a write must not cost O(state));
* ``PersistentStateStore`` on ``memory://`` at 5 KB: synchronous updates/s,
  and asynchronous updates/s with the final ``flush()`` inside the timing.
  No target: the memory backend deep-copies each version it stores, so this
  shows the store's share of a persistence benchmark rather than a ratio.

Rates are the best of several batches (each a multiple of the checkpoint
interval, so every batch carries the same number of checkpoints); the best
batch is the least disturbed by other processes on the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections.abc import Callable
from typing import Any

from bench_patch import human_bytes, leaf_patch, make_state

from agui_state import PersistentStateStore
from agui_state.patch import apply_patch, json_equal
from agui_state.store import StateStore

BATCH = 2_000  # updates per timed batch: a multiple of the checkpoint interval (100)


def best_batch(run: Callable[[int], None], batches: int) -> float:
    """Return the fastest of ``batches`` calls of ``run(BATCH)``, in seconds per update."""
    run(BATCH)  # warm up (and fill the history window a little)
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        run(BATCH)
        best = min(best, time.perf_counter() - start)
    return best / BATCH


def interleaved(runs: list[Callable[[int], None]], batches: int) -> list[float]:
    """Like :func:`best_batch` for several loops, alternating them batch by batch.

    Load from other processes then hits every loop alike.
    """
    for run in runs:
        run(BATCH)  # warm up
    best = [float("inf")] * len(runs)
    for _ in range(batches):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run(BATCH)
            best[i] = min(best[i], time.perf_counter() - start)
    return [b / BATCH for b in best]


def print_store_table(rows: list[tuple[str, int, float, float]]) -> None:
    """Print µs per update of the store and the engine, with the targets."""
    print("one-op 'replace' of a leaf; µs per update (CPU-bound, lower is better)")
    header = (
        f"{'state':<6} {'JSON size':>10} {'StateStore':>11} {'raw engine':>11} "
        f"{'store/raw':>10} {'target':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, size, ours, raw in rows:
        ratio = ours / raw
        verdict = "ok" if ratio <= 5 else "MISSED"
        print(
            f"{name:<6} {human_bytes(size):>10} {ours * 1e6:>11.1f} {raw * 1e6:>11.1f} "
            f"{ratio:>9.1f}x {f'<=5x {verdict}':>14}"
        )
    growth = rows[1][2] / rows[0][2]
    verdict = "ok" if growth <= 2 else "MISSED"
    print(f"StateStore 1 MB / 5 KB: {growth:.2f}x (target <=2x {verdict})")


def store_loop(store: StateStore | PersistentStateStore, path: str) -> Callable[[int], None]:
    counter = [0]

    def run(n: int) -> None:
        i = counter[0]
        for k in range(i, i + n):
            store.apply_patch([{"op": "replace", "path": path, "value": k}])
        counter[0] = i + n
        if isinstance(store, PersistentStateStore):
            store.flush()  # a no-op when synchronous; inside the timing when not

    return run


def engine_loop(doc: dict[str, Any], path: str) -> Callable[[int], None]:
    def run(n: int) -> None:
        for k in range(n):
            apply_patch(doc, [{"op": "replace", "path": path, "value": k}])

    return run


def floor_loop(doc: dict[str, Any], path: str) -> Callable[[int], None]:
    """Only what no store keeping history can skip, per update (the measured floor).

    The engine with its validation, a version id, a timestamp, the stored
    version and the private copy handed back (with a copy of the delta), and
    the history window's insert and eviction. No limits, size estimate,
    locks, hooks or subscriptions.
    """
    from agui_state.models import make_version, utcnow
    from agui_state.store.jsonutil import copy_delta
    from agui_state.store.versionid import new_version_id

    state = {"doc": doc, "number": 0, "id": None}
    window: dict[int, Any] = {}

    def run(n: int) -> None:
        current, number, parent = state["doc"], state["number"], state["id"]
        for k in range(n):
            delta = [{"op": "replace", "path": path, "value": k}]
            current = apply_patch(current, delta)
            number += 1
            version_id, now = new_version_id(), utcnow()
            stored = make_version(version_id, "floor", number, parent, now, delta, {}, None)
            make_version(version_id, "floor", number, parent, now, copy_delta(delta), {}, None)
            window[number] = stored
            window.pop(number - 1000, None)
            parent = version_id
        state.update(doc=current, number=number, id=parent)

    return run


def floor_seconds(doc: dict[str, Any], batches: int) -> float:
    """Seconds per update of :func:`floor_loop` on ``doc`` (best batch)."""
    return best_batch(floor_loop(doc, leaf_patch(doc)[0]["path"]), batches)


def measure(batches: int) -> tuple[dict[str, dict[str, Any]], list[tuple[str, int, float, float]]]:
    """Time the store and the raw engine in alternating batches, at 5 KB and 1 MB.

    Returns the documents and one ``(name, JSON size, store s/update, engine s/update)``
    row per size; ``bench/run`` reuses this.
    """
    docs = {"5 KB": make_state(5 * 1024), "1 MB": make_state(1024 * 1024)}
    rows = []
    for name, doc in docs.items():
        path = leaf_patch(doc)[0]["path"]
        store = StateStore("bench")
        store.set("", doc)
        # Same result as the engine before timing anything.
        patch = [{"op": "replace", "path": path, "value": -1}]
        store.apply_patch(patch)
        assert json_equal(store.get_state(), apply_patch(doc, patch)), "store and engine disagree"
        ours, raw = interleaved([store_loop(store, path), engine_loop(doc, path)], batches)
        assert store.state_bytes == len(json.dumps(store.get_state(), separators=(",", ":")))
        rows.append((name, len(json.dumps(doc)), ours, raw))

    return docs, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches (noisier)")
    parser.add_argument("--profile", action="store_true", help="profile the 5 KB store loop")
    args = parser.parse_args()
    batches = 3 if args.quick else 9

    docs, rows = measure(batches)
    print_store_table(rows)

    small = docs["5 KB"]
    path = leaf_patch(small)[0]["path"]
    rates = {}
    for mode, synchronous in (("sync", True), ("async", False)):
        with PersistentStateStore("memory://", "bench", synchronous=synchronous) as persistent:
            persistent.set("", small)
            rates[mode] = 1 / best_batch(store_loop(persistent, path), batches)
            assert persistent.backend.head_version("bench") == persistent.version
    print()
    print(f"PersistentStateStore on memory://, {human_bytes(len(json.dumps(small)))}: updates/s")
    print(f"  synchronous               {rates['sync']:>9,.0f}")
    print(f"  asynchronous, flush timed {rates['async']:>9,.0f}")

    if args.profile:
        store = StateStore("profile")
        store.set("", small)
        profiler = cProfile.Profile()
        profiler.runcall(store_loop(store, path), 20_000)
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
