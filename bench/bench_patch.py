"""Benchmark: applying a one-op JSON Patch, agui-state's engine vs jsonpatch.

Run from the repository root::

    .venv/bin/python bench/bench_patch.py            # ~10-20 s
    .venv/bin/python bench/bench_patch.py --quick    # a few seconds, noisier

For a ~5 KB and a ~1 MB AG-UI-like state, it measures how many times per
second each engine applies the same patch (a ``replace`` of one leaf in the
middle of the state's longest array) to the same document, returning a new
document and leaving the input untouched:

* ``agui_state.patch.apply_patch``: structural sharing, copies only the
  containers on the path (O(path), whatever the document size);
* ``jsonpatch.apply_patch(doc, patch)``: the library default
  (``in_place=False``), which deep-copies the whole document (O(document)).

Both run in the same process on the same documents; the ratio is what
matters, not the absolute rates (targets: >= 1x at 5 KB, >= 10x at 1 MB).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from collections.abc import Callable
from typing import Any

import jsonpatch

from agui_state.patch import apply_patch, json_equal

WORDS = ("agent", "tool", "call", "result", "user", "state", "cart", "item", "price", "total")


def make_state(target_bytes: int, seed: int = 7) -> dict[str, Any]:
    """Build a deterministic AG-UI-like state of about ``target_bytes`` of JSON."""
    rng = random.Random(seed)

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    state: dict[str, Any] = {
        "thread": {"id": "t-1", "title": text(4), "tags": ["demo", "bench"]},
        "cart": {"items": [], "total": 0.0, "currency": "EUR"},
        "messages": [],
    }
    size = len(json.dumps(state))
    i = 0
    while size < target_bytes:
        message = {
            "id": f"m-{i}",
            "role": rng.choice(["user", "assistant", "tool"]),
            "content": text(rng.randint(5, 25)),
            "meta": {"tokens": rng.randint(1, 500), "latency_ms": rng.random() * 900, "ok": True},
        }
        state["messages"].append(message)
        if i % 4 == 0:
            item = {"sku": f"s{i}", "qty": rng.randint(1, 5), "price": round(rng.random() * 90, 2)}
            state["cart"]["items"].append(item)
            size += len(json.dumps(item)) + 2
        size += len(json.dumps(message)) + 2
        i += 1
    return state


def leaf_patch(state: dict[str, Any]) -> list[dict[str, Any]]:
    """A one-op patch replacing a leaf in the middle of the messages array."""
    middle = len(state["messages"]) // 2
    return [{"op": "replace", "path": f"/messages/{middle}/meta/tokens", "value": 12345}]


def rate(func: Callable[[], object], budget: float, repeats: int) -> float:
    """Return calls per second of ``func``: best of ``repeats`` timed batches.

    The batch size is calibrated so one batch takes about ``budget`` seconds;
    the best batch is the least disturbed by other processes on the machine.
    """
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            func()
        elapsed = time.perf_counter() - start
        if elapsed >= budget / 5 or loops >= 1 << 24:
            break
        loops *= 2 if elapsed > budget / 50 else 10
    loops = max(1, int(loops * budget / max(elapsed, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            func()
        best = min(best, time.perf_counter() - start)
    return loops / best


def human_bytes(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    args = parser.parse_args()
    budget, repeats = (0.05, 3) if args.quick else (0.25, 5)

    cases = [("5 KB", 5 * 1024, 1.0), ("1 MB", 1024 * 1024, 10.0)]
    rows = []
    for name, target, needed in cases:
        doc = make_state(target)
        patch = leaf_patch(doc)
        size = len(json.dumps(doc))
        # Same answer from both, and the input left alone, before timing anything.
        snapshot = json.dumps(doc, sort_keys=True)
        ours_result = apply_patch(doc, patch)
        theirs_result = jsonpatch.apply_patch(doc, patch)
        assert json_equal(ours_result, theirs_result), "engines disagree"
        assert json.dumps(doc, sort_keys=True) == snapshot, "input was mutated"

        ours = rate(functools.partial(apply_patch, doc, patch), budget, repeats)
        theirs = rate(functools.partial(jsonpatch.apply_patch, doc, patch), budget, repeats)
        rows.append((name, size, ours, theirs, ours / theirs, needed))

    print("apply one 'replace' of a leaf; new document each time, input untouched")
    header = (
        f"{'state':<6} {'JSON size':>10} {'agui_state ops/s':>17} "
        f"{'jsonpatch ops/s':>16} {'ratio':>9} {'target':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, size, ours, theirs, ratio, needed in rows:
        verdict = "ok" if ratio >= needed else "MISSED"
        print(
            f"{name:<6} {human_bytes(size):>10} {ours:>17,.0f} {theirs:>16,.0f} "
            f"{ratio:>8,.1f}x {f'>={needed:g}x {verdict}':>10}"
        )


if __name__ == "__main__":
    main()
