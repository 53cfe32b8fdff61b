"""Benchmark: the state inspector on a long history of a large document.

Run from the repository root::

    .venv/bin/python bench/bench_inspector.py            # 100k versions, 5 MB (minutes: building)
    .venv/bin/python bench/bench_inspector.py --quick    # 10k versions, 1 MB

One state gets a document of the target size (``bench_patch.make_state``:
messages, cart items) as version 1, then small updates (a ``replace`` of a
message's ``meta.tokens`` or of the cart total, a run id every 1000
versions) up to the target number of versions, written through an
asynchronous :class:`PersistentStateStore` on the file backend and on
PostgreSQL (``AGUI_STATE_POSTGRES_URL``; skipped with a note if it cannot
be reached). The checkpoint interval is 1000 (``?checkpoint_interval=1000``):
at 5 MB, the default 100 would store 1000 copies of the document.

Measured, Python time in this process, each with a baseline timed in the
same run (the ratio says what the inspector adds on top of the storage):

* **open**: ``StateInspector(backend, state_id)`` on an open backend (states
  page, head, first log page, the head document and its visible tree rows)
  vs ``backend.get_state`` on it; and **cold** from the URL (a new backend:
  the file backend first scans the state's log) vs a new backend's first
  ``get_state``.
* **jump**: setting ``version`` to a random version, State tab (time travel
  read + visible rows) and Diff tab (parent document, delta, diff by
  identity) vs a bare ``backend.state_at``. Worst and median of the samples.
* **search**: a search over the whole document that expands the parents of
  its hits vs ``json.dumps`` of the document (the cost of looking at it once).

Targets (issue): open <= 1 s, jump <= 0.2 s, search <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_patch import human_bytes, make_state

from agui_state import PersistentStateStore, create_backend
from agui_state.jupyter import StateInspector

POSTGRES_URL = os.environ.get(
    "AGUI_STATE_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
STATE = "bench-inspector"
CHECKPOINT_INTERVAL = 1000


class T(NamedTuple):
    """One timing: wall-clock seconds and this process's CPU seconds ("Python time")."""

    wall: float
    cpu: float


def timed(fn: Callable[[], Any]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return T(time.perf_counter() - wall, time.process_time() - cpu)


def best(timings: list[T]) -> T:
    return min(timings, key=lambda t: t.wall)


def worst(timings: list[T]) -> T:
    return max(timings, key=lambda t: t.wall)


def median(timings: list[T]) -> T:
    return T(statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings))


def build(url: str, versions: int, size: int) -> int:
    """Write the benchmark state; return the document's size in bytes."""
    doc = make_state(size)
    n_messages = len(doc["messages"])
    backend = create_backend(url)
    try:
        with PersistentStateStore(
            backend, STATE, synchronous=False, batch_size=1000, queue_size=50_000
        ) as store:
            store.apply_patch([{"op": "replace", "path": "", "value": doc}])
            rng = random.Random(3)
            for i in range(2, versions + 1):
                meta = {"agui": {"run_id": f"run-{i // 1000}"}}
                if i % 10 == 0:
                    op = {"op": "replace", "path": "/cart/total", "value": i}
                else:
                    k = rng.randrange(n_messages)
                    op = {"op": "replace", "path": f"/messages/{k}/meta/tokens", "value": i}
                store.apply_patch([op], metadata=meta)
            store.flush()
            store.create_snapshot("final")
    finally:
        backend.close()
    return len(json.dumps(doc))


def measure(name: str, url: str, versions: int, samples: int) -> None:
    """Time open, jump and search on ``url``; print the figures."""
    fresh = create_backend(url)
    cold_base = timed(lambda: fresh.get_state(STATE))
    fresh.close()
    probe: list[StateInspector] = []
    cold_open = timed(lambda: probe.append(StateInspector(url, STATE)))
    probe[0].close()
    backend = create_backend(url)
    try:
        backend.get_state(STATE)  # warm: the file backend scans a state's log once
        base_open = best([timed(lambda: backend.get_state(STATE)) for _ in range(3)])
        opened: list[StateInspector] = []
        t_open = best(
            [timed(lambda: opened.append(StateInspector(backend, STATE))) for _ in range(3)]
        )
        w = opened[-1]
        for extra in opened[:-1]:
            extra.close()
        rng = random.Random(11)
        targets = [rng.randrange(1, versions + 1) for _ in range(samples)]
        base_jump = [timed(lambda n=n: backend.state_at(STATE, n)) for n in targets]
        jump_state: list[T] = []
        jump_diff: list[T] = []
        w.tab = "state"
        for n in targets:
            jump_state.append(timed(lambda n=n: setattr(w, "version", n)))
            assert w.error == "", w.error
        # Other targets for the Diff tab: nothing cached near them.
        w.tab = "diff"
        for n in [rng.randrange(1, versions + 1) for _ in range(samples)]:
            jump_diff.append(timed(lambda n=n: setattr(w, "version", n)))
            assert w.error == "", w.error
        w.tab = "state"
        w.version = versions
        doc = backend.get_state(STATE)
        base_search = best([timed(lambda: json.dumps(doc)) for _ in range(3)])
        searches = []
        for query in ("needle-not-there", "assistant", "m-4242"):
            w.search = ""
            searches.append(timed(lambda q=query: setattr(w, "search", q)))
            assert w.error == "", w.error
        w.close()
    finally:
        backend.close()
    print(f"\n{name}   (wall s / CPU s of this process; the target is judged on wall time)")
    head = "  {:<24} {:>15}  {:>26}  {:>6}  {}"
    print(head.format("", "inspector", "baseline", "ratio", "target"))
    rows = [
        ("open, from the URL", cold_open, cold_base, "new backend get_state", 1.0),
        ("open, open backend", t_open, base_open, "backend.get_state", 1.0),
        ("jump, State (median)", median(jump_state), median(base_jump), "backend.state_at", 0.2),
        ("jump, State (max)", worst(jump_state), worst(base_jump), "backend.state_at", 0.2),
        ("jump, Diff (median)", median(jump_diff), median(base_jump), "backend.state_at", 0.2),
        ("jump, Diff (max)", worst(jump_diff), worst(base_jump), "backend.state_at", 0.2),
        ("search, whole doc (max 3)", worst(searches), base_search, "json.dumps", 0.5),
    ]
    for label, got, base, base_name, target in rows:
        verdict = "met" if got.wall <= target else "MISSED"
        cpu_verdict = "met" if got.cpu <= target else "missed"
        print(
            f"  {label:<24} {got.wall:6.3f} / {got.cpu:6.3f}  "
            f"{base_name:>17} {base.wall:6.3f}  {got.wall / base.wall:5.2f}x  "
            f"<= {target:g} s: {verdict} (CPU: {cpu_verdict})"
        )


def postgres_reachable() -> bool:
    try:
        import psycopg

        plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception as exc:
        print(f"PostgreSQL not reachable ({type(exc).__name__}); file backend only")
        return False


def drop_schema(schema: str) -> None:
    import psycopg

    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k versions, 1 MB")
    parser.add_argument("--no-postgres", action="store_true", help="file backend only")
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the data (folder /tmp/NAME, schema NAME) and reuse it on the next run",
    )
    args = parser.parse_args()
    versions, size, samples = (10_000, 1_000_000, 8) if args.quick else (100_000, 5_000_000, 12)
    print(f"{versions} versions, document ~{human_bytes(size)}, {samples} random jumps")
    if args.keep:
        folder = os.path.join(tempfile.gettempdir(), args.keep)
        os.makedirs(folder, exist_ok=True)
    else:
        folder = tempfile.mkdtemp(prefix="agui-bench-inspector-")
    targets = [
        (
            "file",
            f"file://{quote(folder)}/data?fsync=false&checkpoint_interval={CHECKPOINT_INTERVAL}",
        )
    ]
    schema = args.keep or f"agui_bench_{uuid.uuid4().hex[:8]}"
    if not args.no_postgres and postgres_reachable():
        sep = "&" if "?" in POSTGRES_URL else "?"
        targets.append(
            (
                "postgresql",
                f"{POSTGRES_URL}{sep}schema={schema}&checkpoint_interval={CHECKPOINT_INTERVAL}",
            )
        )
    try:
        for name, url in targets:
            t = time.perf_counter()
            if args.keep and _exists(url, versions):
                doc_bytes = len(json.dumps(make_state(size)))
                print(f"\n[{name}] reusing the kept data")
            else:
                doc_bytes = build(url, versions, size)
                print(f"\n[{name}] built in {time.perf_counter() - t:.1f} s")
            measure(
                f"{name}: {versions} versions, {human_bytes(doc_bytes)} document",
                url,
                versions,
                samples,
            )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            if len(targets) > 1:
                drop_schema(schema)


def _exists(url: str, versions: int) -> bool:
    backend = create_backend(url)
    try:
        return backend.exists(STATE) and backend.head_version(STATE) >= versions
    finally:
        backend.close()


if __name__ == "__main__":
    main()
