"""Many thread stores in one process: one shared writer thread vs one thread per store.

A server keeps one asynchronous ``PersistentStateStore`` per AG-UI thread.
This measures writing ``--versions`` versions into each of ``--stores``
stores on one SQLite file (WAL, one fsync per commit) and flushing them all:

* **shared** (what ``PersistentStateStore`` does): one writer thread for the
  backend, group commits across states;
* **per-store** (the baseline, the design before): each store's own
  ``WriteBehindQueue`` thread, one commit per store batch.

It prints the ratio of the two rates and the threads each needed. Run from
the repository root: ``.venv/bin/python bench/bench_threads.py [--quick]``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import agui_state.persistent.state_store as state_store_module
from agui_state.persistent import PersistentStateStore
from agui_state.persistent.shared_writer import SharedWriteQueue
from agui_state.persistent.writer import WriteBehindQueue

TARGET = 1.0  # the shared writer must not be slower


def run(url: str, stores: int, versions: int, shared: bool) -> tuple[float, int]:
    """Return (versions per second, extra threads) for one contender."""
    queue_class = SharedWriteQueue if shared else WriteBehindQueue
    state_store_module.SharedWriteQueue = queue_class  # type: ignore[misc]
    try:
        before = threading.active_count()
        opened = [
            PersistentStateStore(url, f"{'s' if shared else 'p'}{i}", synchronous=False)
            for i in range(stores)
        ]
        threads = threading.active_count() - before
        start = time.perf_counter()
        for n in range(versions):
            for store in opened:
                store.set("/n", n)
        for store in opened:
            store.flush()
        elapsed = time.perf_counter() - start
        for store in opened:
            assert store.backend.head_version(store.state_id) == versions
            store.close()
    finally:
        state_store_module.SharedWriteQueue = SharedWriteQueue  # type: ignore[misc]
    return stores * versions / elapsed, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 stores, 10 versions, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.stores, args.versions, args.rounds = 100, 10, 2
    best = {True: (0.0, 0), False: (0.0, 0)}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for shared in (True, False):  # interleaved rounds, best kept
                url = f"sqlite:///{Path(tmp) / f'r{r}-{shared}.db'}"
                rate, threads = run(url, args.stores, args.versions, shared)
                if rate > best[shared][0]:
                    best[shared] = (rate, threads)
    (shared_rate, shared_threads), (own_rate, own_threads) = best[True], best[False]
    ratio = shared_rate / own_rate
    print(f"{args.stores} async stores x {args.versions} versions on one SQLite file")
    print(f"  shared writer : {shared_rate:10.0f} versions/s, {shared_threads} writer thread(s)")
    print(f"  per-store     : {own_rate:10.0f} versions/s, {own_threads} writer thread(s)")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"  ratio shared / per-store: {ratio:.2f}x (target >= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
