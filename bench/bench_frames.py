"""Benchmark: the Jupyter data layer's frames on large histories, against raw backend reads.

Run from the repository root::

    python bench/bench_frames.py            # full sizes (minutes: building the data dominates)
    python bench/bench_frames.py --quick    # a tenth of the sizes, ~1 min

Cases (seconds, and the ratio to a raw baseline doing the backend reads the
frame cannot avoid, in the same process on the same data):

* ``history_frame(source, state_id, limit=1000)`` of one state with 100k
  versions, on the file, SQLite and PostgreSQL backends. Baseline: the
  backend's own ``get_version_history(state_id, limit=1000)``. Target <= 0.3 s.
* ``changes_frame(source, "/cart/total")`` over 100k versions of a ~1 MB state
  (file backend, a checkpoint every 10k versions), plus the same at a quarter
  and half the versions to show it is linear. Baseline: paging every version
  with ``get_versions``. Target <= 5 s.
* ``states_frame(source)`` of 10k states (3 versions and a snapshot-free
  document each) on PostgreSQL and Redis. Baseline: paging the state ids with
  ``list_states``. Target <= 2 s.

PostgreSQL (``AGUI_STATE_POSTGRES_URL``, a fresh schema dropped at the end) and
Redis (``AGUI_STATE_REDIS_URL``, a fresh key prefix deleted at the end) are
skipped with a message when unreachable. Each timing is the best of 3 runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from agui_state.backends import StorageBackend, create_backend
from agui_state.backends.base import Write
from agui_state.jupyter import changes_frame, history_frame, states_frame
from agui_state.models import StateVersion
from agui_state.patch import apply_patch

POSTGRES_URL = os.environ.get(
    "AGUI_STATE_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AGUI_STATE_REDIS_URL", "redis://127.0.0.1:6379/15")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 2_000


def best_of(fn: Callable[[], Any], rounds: int = 3) -> float:
    """Seconds of the fastest of ``rounds`` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def report(case: str, seconds: float, baseline: float, target: float) -> None:
    verdict = "met" if seconds <= target else "MISSED"
    ratio = seconds / baseline if baseline > 0 else float("inf")
    print(
        f"  {case:<46} {seconds:8.3f} s   raw {baseline:8.3f} s   "
        f"ratio {ratio:6.2f}x   target <= {target:g} s: {verdict}",
        flush=True,
    )


def versions(
    state_id: str, doc: Any, count: int, checkpoint_every: int, start: int = 1
) -> Iterator[tuple[StateVersion, Any]]:
    """Yield ``count`` versions replacing ``/cart/total``, a run per 1000 versions."""
    parent: str | None = None
    for number in range(start, start + count):
        delta = [{"op": "replace", "path": "/cart/total", "value": number}]
        doc = apply_patch(doc, delta)
        checkpoint = doc if number % checkpoint_every == 0 else None
        vid = str(uuid.uuid4())
        yield (
            StateVersion(
                vid,
                state_id,
                number,
                parent,
                T0 + timedelta(milliseconds=number),
                delta,
                {"run_id": f"run-{number // 1000}"},
                checkpoint,
            ),
            doc,
        )
        parent = vid


def fill_history(
    backend: StorageBackend, state_id: str, doc: Any, count: int, checkpoint_every: int
) -> None:
    backend.set_state(state_id, doc)
    batch: list[Write] = []
    for version, _ in versions(state_id, doc, count, checkpoint_every):
        batch.append(Write.of_version(state_id, version))
        if len(batch) >= BATCH:
            backend.write_batch(batch)
            batch = []
    if batch:
        backend.write_batch(batch)


def fill_states(backend: StorageBackend, count: int) -> None:
    batch: list[Write] = []
    for i in range(count):
        sid = f"thread-{i:06d}"
        doc = {"cart": {"items": ["tea"], "total": 0}, "user": f"u{i}"}
        batch.append(Write.of_state(sid, doc))
        for version, _ in versions(sid, doc, 3, 100):
            batch.append(Write.of_version(sid, version))
        if len(batch) >= BATCH:
            backend.write_batch(batch)
            batch = []
    if batch:
        backend.write_batch(batch)


def big_document(size: int) -> dict[str, Any]:
    """An AG-UI-like state of about ``size`` bytes of JSON."""
    rows = [{"id": i, "name": f"item-{i}", "note": "x" * 80} for i in range(size // 120)]
    return {"cart": {"items": [], "total": 0}, "catalog": rows}


def reachable(url: str) -> StorageBackend | None:
    try:
        backend = create_backend(url)
        backend.ping()
    except Exception as exc:
        print(f"  skipped: {url.split('@')[-1]} not reachable ({type(exc).__name__}: {exc})")
        return None
    return backend


def bench_history(urls: dict[str, str], count: int) -> None:
    print(f"history_frame: one state, {count} versions, limit=1000")
    for kind, url in urls.items():
        backend = reachable(url)
        if backend is None:
            continue
        try:
            fill_history(backend, "h", {"cart": {"items": ["tea"], "total": 0}}, count, 100)
            raw = best_of(lambda b=backend: b.get_version_history("h", limit=1000))
            frame = best_of(lambda b=backend: history_frame(b, "h", limit=1000))
            assert len(history_frame(backend, "h", limit=1000)) == min(1000, count)
            report(f"{kind}", frame, raw, 0.3)
        finally:
            backend.close()


def bench_changes(url: str, count: int, size: int) -> None:
    print(f"changes_frame: ~{size // 1000} KB state, file backend, checkpoint every 10k versions")
    backend = create_backend(url)
    try:
        doc = big_document(size)
        for n in (count // 4, count // 2, count):
            sid = f"c{n}"
            fill_history(backend, sid, doc, n, 10_000)

            def raw(b: StorageBackend = backend, s: str = sid) -> int:
                seen, after = 0, 0
                while True:
                    page = b.get_versions(s, after=after, limit=500)
                    if not page:
                        return seen
                    seen += len(page)
                    after = page[-1].number

            base = best_of(raw, 1)
            took = best_of(
                lambda b=backend, s=sid: changes_frame(b, "/cart/total", state_ids=[s]), 1
            )
            rows = changes_frame(backend, "/cart/total", state_ids=[sid], limit=3)
            assert list(rows["new"]) == [n - 2, n - 1, n], rows
            report(f"{n} versions ({took / n * 1e6:.1f} us/version)", took, base, 5.0)
    finally:
        backend.close()


def bench_states(urls: dict[str, str], count: int) -> None:
    print(f"states_frame: {count} states")
    for kind, url in urls.items():
        backend = reachable(url)
        if backend is None:
            continue
        try:
            fill_states(backend, count)
            raw = best_of(lambda b=backend: sum(1 for _ in b.iter_states()))
            frame = best_of(lambda b=backend: states_frame(b))
            df = states_frame(backend)
            assert len(df) == count and set(df["version"]) == {3}, df
            report(kind, frame, raw, 2.0)
        finally:
            backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument(
        "--only", choices=["history", "changes", "states"], help="run one case only"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    tag = uuid.uuid4().hex[:8]
    tmp = tempfile.mkdtemp(prefix="agui-bench-frames-")
    schema = f"agui_bench_{tag}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    pg = f"{POSTGRES_URL}{sep}schema={schema}"
    rsep = "&" if "?" in REDIS_URL else "?"
    redis_url = f"{REDIS_URL}{rsep}key_prefix=agui-bench:{tag}:"
    try:
        if args.only in (None, "history"):
            bench_history(
                {
                    "file": f"file://{tmp}/h?fsync=false",
                    "sqlite": f"sqlite:///{tmp}/h.db",
                    "postgresql": pg + "&table_prefix=h_",
                },
                100_000 // scale,
            )
        if args.only in (None, "changes"):
            bench_changes(f"file://{tmp}/c?fsync=false", 100_000 // scale, 1_000_000)
        if args.only in (None, "states"):
            bench_states(
                {"postgresql": pg + "&table_prefix=s_", "redis": redis_url}, 10_000 // scale
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        cleanup(schema, tag)


def cleanup(schema: str, tag: str) -> None:
    try:
        import psycopg

        plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except Exception as exc:
        print(f"PostgreSQL cleanup skipped: {exc}")
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"agui-bench:{tag}:*", count=1000):
            client.delete(key)
        client.close()
    except Exception as exc:
        print(f"Redis cleanup skipped: {exc}")


if __name__ == "__main__":
    main()
