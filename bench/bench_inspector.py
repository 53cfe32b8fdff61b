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
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any
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


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
    return len(__import__("json").dumps(doc))


def measure(name: str, url: str, versions: int, samples: int) -> dict[str, float]:
    """Time open, jump and search on ``url``; print the figures."""
    import json

    cold_base, cold_open = [], []
    for _ in range(2):
        fresh = create_backend(url)
        cold_base.append(timed(lambda b=fresh: b.get_state(STATE)))
        fresh.close()
        probe: list[StateInspector] = []
        cold_open.append(timed(lambda p=probe: p.append(StateInspector(url, STATE))))
        probe[0].close()
    backend = create_backend(url)
    try:
        base_open = min(timed(lambda: backend.get_state(STATE)) for _ in range(3))
        opened: list[StateInspector] = []
        t_open = min(timed(lambda: opened.append(StateInspector(backend, STATE))) for _ in range(3))
        w = opened[-1]
        for extra in opened[:-1]:
            extra.close()
        rng = random.Random(11)
        targets = [rng.randrange(1, versions + 1) for _ in range(samples)]
        base_jump = [timed(lambda n=n: backend.state_at(STATE, n)) for n in targets]
        jump_state, jump_diff = [], []
        for n in targets:
            w.tab = "state"
            jump_state.append(timed(lambda n=n: setattr(w, "version", n)))
            w.version = (n + versions // 2) % versions or 1  # far away: nothing cached near n
            w.tab = "diff"
            jump_diff.append(timed(lambda n=n: setattr(w, "version", n)))
            assert w.error == "", w.error
        w.tab = "state"
        w.version = versions
        doc = backend.get_state(STATE)
        base_search = min(timed(lambda: json.dumps(doc)) for _ in range(3))
        searches = []
        for query in ("needle-not-there", "assistant", "m-4242"):
            w.search = ""
            searches.append(timed(lambda q=query: setattr(w, "search", q)))
            assert w.error == "", w.error
        w.close()
    finally:
        backend.close()
    figures = {
        "open": t_open,
        "open_cold": min(cold_open),
        "jump_state_max": max(jump_state),
        "jump_state_median": statistics.median(jump_state),
        "jump_diff_max": max(jump_diff),
        "jump_diff_median": statistics.median(jump_diff),
        "search_max": max(searches),
    }
    print(f"\n{name}")
    row = "  {:<26} {:>9.3f} s   baseline {:>8.3f} s  ({:>5.1f}x)   target {}"
    t_cold, b_cold = min(cold_open), min(cold_base)
    print(row.format("open (URL, cold)", t_cold, b_cold, t_cold / b_cold, _met(t_cold, 1.0)))
    print(
        row.format("open (open backend)", t_open, base_open, t_open / base_open, _met(t_open, 1.0))
    )
    bj_max, bj_med = max(base_jump), statistics.median(base_jump)
    for label, values in (("jump, State tab", jump_state), ("jump, Diff tab", jump_diff)):
        worst, median = max(values), statistics.median(values)
        print(row.format(label + " (max)", worst, bj_max, worst / bj_max, _met(worst, 0.2)))
        print(row.format(label + " (median)", median, bj_med, median / bj_med, _met(median, 0.2)))
    worst = max(searches)
    print(
        row.format("search (max of 3)", worst, base_search, worst / base_search, _met(worst, 0.5))
    )
    return figures


def _met(value: float, target: float) -> str:
    return f"<= {target:g} s {'met' if value <= target else 'MISSED'}"


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
    args = parser.parse_args()
    versions, size, samples = (10_000, 1_000_000, 8) if args.quick else (100_000, 5_000_000, 12)
    print(f"{versions} versions, document ~{human_bytes(size)}, {samples} random jumps")
    folder = tempfile.mkdtemp(prefix="agui-bench-inspector-")
    targets = [
        (
            "file",
            f"file://{quote(folder)}/data?fsync=false&checkpoint_interval={CHECKPOINT_INTERVAL}",
        )
    ]
    schema = f"agui_bench_{uuid.uuid4().hex[:8]}"
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
            doc_bytes = build(url, versions, size)
            print(f"\n[{name}] built in {time.perf_counter() - t:.1f} s ({human_bytes(doc_bytes)})")
            measure(
                f"{name}: {versions} versions, {human_bytes(doc_bytes)} document",
                url,
                versions,
                samples,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if len(targets) > 1:
            drop_schema(schema)


if __name__ == "__main__":
    main()
