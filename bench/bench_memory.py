"""Benchmark: resident memory of a PersistentStateStore holding a 5 MB state and 100k versions.

Target (issue 15): the store's memory stays within 3x the document's size plus
the retained history's deltas (compact JSON bytes). Each measurement runs in a
fresh child process, so that the resident set size (RSS, from ``psutil``)
starts clean:

* each child imports everything, builds the ~5 MB document (the caller's),
  and reads its RSS;
* **store**: it opens an asynchronous ``PersistentStateStore`` on the file
  backend in a temporary folder, sets the document (the store keeps its own
  copy), writes the one-op updates (a ``replace`` of one leaf with a number
  each), flushes, collects garbage and measures the RSS growth;
* **bound**: the least any Python store must hold, a copy of the document
  and the kept deltas as Python objects (nothing else), and its RSS growth.

Both growths are divided by the same denominator: the document's compact JSON
size plus the compact JSON size of the deltas the store keeps in memory
(``StoreOptions.max_history``, default 10,000, of the 100,000 versions).

Run from the repository root::

    .venv/bin/python bench/bench_memory.py            # 100k versions (~20 s)
    .venv/bin/python bench/bench_memory.py --quick    # 20k versions
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STATE_BYTES = 5 * 1024 * 1024
TARGET = 3.0


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _rss() -> int:
    import psutil

    gc.collect()
    return int(psutil.Process().memory_info().rss)


def child(versions: int, what: str) -> dict[str, Any]:
    """One measurement in a fresh process (``what``: "store" or "bound"); its figures."""
    sys.path.insert(0, str(HERE))
    from bench_patch import leaf_patch, make_state

    from agui_state.persistent import PersistentStateStore
    from agui_state.store import StoreOptions

    doc = make_state(STATE_BYTES)
    path = leaf_patch(doc)[0]["path"]
    kept = min(versions, StoreOptions().max_history or versions)
    doc_bytes = len(_compact(doc).encode())
    delta_bytes = sum(
        len(_compact([{"op": "replace", "path": path, "value": n}]).encode())
        for n in range(versions - kept, versions)
    )
    figures = {"versions": versions, "kept": kept, "doc_bytes": doc_bytes}
    figures["denominator"] = doc_bytes + delta_bytes
    start = _rss()
    if what == "bound":
        # The least a Python store keeps: a copy of the document and the kept
        # deltas as Python objects (what json.loads gives), nothing else.
        held = (
            json.loads(_compact(doc)),
            [[{"op": "replace", "path": path, "value": n}] for n in range(kept)],
        )
        figures["growth"] = _rss() - start
        del held
        return figures
    with tempfile.TemporaryDirectory(prefix="agui-bench-mem-") as folder:
        store = PersistentStateStore(f"file://{folder}", "mem", synchronous=False)
        store.set("", doc)  # the store keeps its own copy, like the bound
        for n in range(versions):
            store.apply_patch([{"op": "replace", "path": path, "value": n}])
        store.flush()
        figures["growth"] = _rss() - start
        assert store.version == versions + 1
        store.close()
    return figures


@dataclass(frozen=True)
class Measured:
    """RSS growths of one child run, and what they are divided by."""

    versions: int
    kept: int
    doc_bytes: int
    denominator: int
    store_growth: int
    bound_growth: int

    @property
    def ratio(self) -> float:
        """Store RSS growth / (document + kept deltas)."""
        return self.store_growth / self.denominator

    @property
    def bound(self) -> float:
        """The same ratio for the document and kept deltas alone, as Python objects."""
        return self.bound_growth / self.denominator


def measure(quick: bool) -> Measured:
    """Run the store and the bound, each in a fresh interpreter; return their figures."""
    versions = 20_000 if quick else 100_000
    figures = {}
    for what in ("store", "bound"):
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(versions), what],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures[what] = json.loads(out.strip().splitlines()[-1])
    store = figures["store"]
    return Measured(
        store["versions"],
        store["kept"],
        store["doc_bytes"],
        store["denominator"],
        store["growth"],
        figures["bound"]["growth"],
    )


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k versions instead of 100k")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    m = measure(args.quick)
    print(
        f"{m.versions:,} versions, {m.kept:,} kept in memory; document {mib(m.doc_bytes)}, "
        f"document + kept deltas {mib(m.denominator)} of compact JSON"
    )
    print(f"store RSS growth      {mib(m.store_growth):>12}  {m.ratio:.2f}x  (target <= {TARGET}x)")
    print(f"bound: Python objects {mib(m.bound_growth):>12}  {m.bound:.2f}x")
    print("met" if m.ratio <= TARGET else "MISSED")


if __name__ == "__main__":
    main()
