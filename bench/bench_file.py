"""Benchmark: durable updates with the file backend vs naive durable file writes.

Run from the repository root::

    .venv/bin/python bench/bench_file.py            # ~20-25 s
    .venv/bin/python bench/bench_file.py --quick    # ~7 s, noisier

Every figure is measured in this process, on the same disk, with ``fsync``
on (the durable default), and rates are compared with baselines timed in
the same run, interleaved round by round so that load from other processes
hits both sides alike. One update is a one-op JSON Patch ``replace`` of a
leaf in the middle of an AG-UI-like state (``bench_patch.make_state``).

* **sync**: ``PersistentStateStore(synchronous=True)``: every
  ``apply_patch`` returns once its version is on disk (one appended log line
  and one ``fdatasync``; every ``checkpoint_interval``-th version (default
  100) also carries the full state and refreshes the checkpoint file).
* **raw rewrite**: what a naive "rewrite the whole state file durably" does
  per update: ``json.dumps`` of the whole state into a temp file in the same
  folder, flush, ``os.fsync``, ``os.replace``.
* **raw append**: the floor for a durable log: a file open in append mode,
  one write of a version line (the bytes our backend writes for one update)
  and one ``os.fsync`` per update.
* **async**: ``PersistentStateStore(synchronous=False)``: updates go to the
  write-behind queue, whose writer thread commits them in groups (one
  append and one ``fdatasync`` per group); the timing includes ``flush()``.

Targets (issue): sync >= 0.8x raw rewrite at ~5 KB (stretch: >= 0.5x raw
append); sync at ~1 MB within 2x of sync at ~5 KB (writes are O(delta));
async >= 20x sync. Absolute rates depend on the disk; the ratios are what
the targets are about.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_patch import human_bytes, leaf_patch, make_state

from agui_state.persistent import PersistentStateStore
from agui_state.store import StateStore

Step = Callable[[], object]


@dataclass
class Case:
    """One measured thing: its best rate over the rounds, and every round's rate."""

    name: str
    best: float = 0.0
    rates: list[float] = field(default_factory=list)

    def add(self, rate: float) -> None:
        self.best = max(self.best, rate)
        self.rates.append(rate)

    @property
    def mean(self) -> float:
        """The rate over all rounds (rounds of equal duration: the mean of their rates).

        Unlike the best round, it includes the rare expensive updates (a
        checkpoint every 1,000 versions at 1 MB) in their true proportion.
        """
        return sum(self.rates) / len(self.rates)


def timed(step: Step, seconds: float, *, minimum: int = 5) -> float:
    """Call ``step`` for about ``seconds`` (at least ``minimum`` times); return calls/s."""
    count = 0
    start = time.perf_counter()
    while True:
        step()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= minimum:
            return count / elapsed


class Updater:
    """Applies the benchmark update (a new value each time) to a store."""

    def __init__(self, store: PersistentStateStore | StateStore, state: dict[str, Any]) -> None:
        self.store = store
        self.path = leaf_patch(state)[0]["path"]
        self.value = 0

    def __call__(self) -> None:
        self.value += 1
        self.store.apply_patch([{"op": "replace", "path": self.path, "value": self.value}])


def open_store(base: Path, state: dict[str, Any], *, synchronous: bool) -> PersistentStateStore:
    """A file-backed store (fsync on, library defaults) holding ``state``."""
    store = PersistentStateStore(f"file://{base}", "bench", synchronous=synchronous)
    store.set("", state)
    store.flush()
    return store


class RawRewrite:
    """Naive durable save: whole state to a temp file, flush, fsync, rename."""

    def __init__(self, folder: Path, state: dict[str, Any]) -> None:
        folder.mkdir()
        self.target = folder / "state.json"
        self.tmp = folder / ".state.json.tmp"
        self.state = state
        self.leaf = state["messages"][len(state["messages"]) // 2]["meta"]
        self.value = 0

    def __call__(self) -> None:
        self.value += 1
        self.leaf["tokens"] = self.value  # the same change as the store's update
        with open(self.tmp, "wb") as fh:
            fh.write(json.dumps(self.state).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.target)


class RawAppend:
    """The floor of a durable log: append one version line, fsync."""

    def __init__(self, folder: Path, line: bytes) -> None:
        folder.mkdir()
        self.line = line
        self.fh = open(folder / "versions.log", "ab")  # noqa: SIM115 - closed by close()

    def __call__(self) -> None:
        self.fh.write(self.line)
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def last_log_line(base: Path) -> bytes:
    """The last line of the (only) version log under ``base``: one update's bytes."""
    (log,) = base.glob("versions/**/*.log")
    return log.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"


def batch_rate(update: Updater, count: int) -> float:
    """Updates/s of ``count`` updates in a row, then ``flush()`` (a no-op in memory)."""
    start = time.perf_counter()
    for _ in range(count):
        update()
    if isinstance(update.store, PersistentStateStore):
        update.store.flush()
    return count / (time.perf_counter() - start)


def check_disk(folder: Path) -> str:
    """Describe the file system of ``folder`` (a tmpfs would make fsync free)."""
    fstype = "?"
    try:
        best = ""
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                mount = fields[1]
                inside = str(folder).startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, fstype = mount, fields[2]
    except OSError:
        pass
    if fstype in ("tmpfs", "ramfs"):
        print(f"warning: {folder} is on {fstype}: fsync costs nothing there", file=sys.stderr)
    return fstype


def print_report(
    rows: list[tuple[str, float]], targets: list[tuple[str, float, float]], *, width: int
) -> None:
    """Print the rates table, then each target's ratio, what it needs and the verdict."""
    header = f"{'what':<{width}} {'updates/s':>10}"
    print(header)
    print("-" * len(header))
    for name, value in rows:
        print(f"{name:<{width}} {value:>10,.0f}")
    print()
    header = f"{'target':<{width}} {'ratio':>8} {'needed':>8}  verdict"
    print(header)
    print("-" * len(header))
    for name, ratio, needed in targets:
        verdict = "met" if ratio >= needed else "missed"
        print(f"{name:<{width}} {ratio:>7.2f}x {f'>={needed:g}x':>8}  {verdict}")


@dataclass
class Measured:
    """Best rates of one run (updates/s by case key) and what they were measured on."""

    rate: dict[str, float]
    info: dict[str, Any]
    mean: dict[str, float] = field(default_factory=dict)  # over all rounds (see Case.mean)

    @classmethod
    def of(cls, cases: dict[str, Case], info: dict[str, Any]) -> Measured:
        """The best and mean rate of every case, with ``info``."""
        return cls(
            {key: case.best for key, case in cases.items()},
            info,
            {key: case.mean for key, case in cases.items()},
        )


def measure(quick: bool, folder: str | None = None) -> Measured:
    """Run every case in interleaved rounds; ``bench/run`` reuses this."""
    seconds, rounds, async_count = (0.3, 3, 2000) if quick else (0.8, 5, 5000)
    root = Path(tempfile.mkdtemp(prefix="agui-bench-file-", dir=folder))
    fstype = check_disk(root)
    small, large = make_state(5 * 1024), make_state(1024 * 1024)
    small_size, large_size = len(json.dumps(small)), len(json.dumps(large))
    cases = {
        key: Case(key)
        for key in (
            "sync5",
            "rewrite5",
            "append",
            "sync1m",
            "rewrite1m",
            "async5",
            "async1m",
            "memory5",
        )
    }
    stores: list[PersistentStateStore] = []
    appender: RawAppend | None = None
    try:
        sync5 = open_store(root / "sync5", small, synchronous=True)
        sync1m = open_store(root / "sync1m", large, synchronous=True)
        async5 = open_store(root / "async5", small, synchronous=False)
        async1m = open_store(root / "async1m", large, synchronous=False)
        stores += [sync5, sync1m, async5, async1m]
        up_sync5, up_sync1m = Updater(sync5, small), Updater(sync1m, large)
        up_async5, up_async1m = Updater(async5, small), Updater(async1m, large)
        memory5 = StateStore("bench")  # no persistence at all: the ceiling of async mode
        memory5.set("", small)
        up_memory5 = Updater(memory5, small)
        up_sync5()  # one update, to learn the bytes of one version line
        appender = RawAppend(root / "append", last_log_line(root / "sync5"))
        rewrite5 = RawRewrite(root / "rewrite5", json.loads(json.dumps(small)))
        rewrite1m = RawRewrite(root / "rewrite1m", json.loads(json.dumps(large)))
        delta_bytes = len(appender.line)

        for _ in range(rounds):
            cases["sync5"].add(timed(up_sync5, seconds))
            cases["rewrite5"].add(timed(rewrite5, seconds))
            cases["append"].add(timed(appender, seconds))
            cases["sync1m"].add(timed(up_sync1m, seconds))
            cases["rewrite1m"].add(timed(rewrite1m, seconds / 2))
            cases["async5"].add(batch_rate(up_async5, async_count))
            cases["async1m"].add(batch_rate(up_async1m, async_count // 5))
            cases["memory5"].add(batch_rate(up_memory5, async_count))
        written = {
            "sync 5 KB": sync5.stats()["versions_written"],
            "async 5 KB": async5.stats()["versions_written"],
        }
        batches = async5.stats()["batches_written"]
    finally:
        for store in stores:
            store.close()
        if appender is not None:
            appender.close()
        shutil.rmtree(root, ignore_errors=True)

    info = {
        "fstype": fstype,
        "root": root,
        "rounds": rounds,
        "delta_bytes": delta_bytes,
        "small_size": small_size,
        "large_size": large_size,
        "written": written,
        "batches": batches,
    }
    return Measured.of(cases, info)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument(
        "--dir", default=None, help="folder for the temporary data (default: the system temp)"
    )
    args = parser.parse_args()
    measured = measure(args.quick, args.dir)
    rate, info = measured.rate, measured.info
    fstype, root, rounds = info["fstype"], info["root"], info["rounds"]
    delta_bytes, written, batches = info["delta_bytes"], info["written"], info["batches"]
    small_size, large_size = info["small_size"], info["large_size"]
    print(
        f"file backend, fsync on ({fstype} at {root.parent}); best of {rounds} rounds; "
        f"one update = replace of one leaf ({delta_bytes} B version line)"
    )
    print()
    rows = [
        (f"sync PersistentStateStore, {human_bytes(small_size)} state", rate["sync5"]),
        (f"raw temp+fsync+rename, {human_bytes(small_size)}", rate["rewrite5"]),
        (f"raw append+fsync, {delta_bytes} B line", rate["append"]),
        (f"sync PersistentStateStore, {human_bytes(large_size)} state", rate["sync1m"]),
        (f"raw temp+fsync+rename, {human_bytes(large_size)}", rate["rewrite1m"]),
        (f"async + flush(), {human_bytes(small_size)} state", rate["async5"]),
        (f"async + flush(), {human_bytes(large_size)} state", rate["async1m"]),
        (f"in-memory StateStore only, {human_bytes(small_size)}", rate["memory5"]),
    ]
    targets = [
        ("sync 5 KB / raw rewrite 5 KB", rate["sync5"] / rate["rewrite5"], 0.8),
        ("sync 5 KB / raw append (stretch)", rate["sync5"] / rate["append"], 0.5),
        ("sync 1 MB / sync 5 KB (O(delta) writes)", rate["sync1m"] / rate["sync5"], 0.5),
        ("async 5 KB / sync 5 KB", rate["async5"] / rate["sync5"], 20.0),
    ]
    print_report(rows, targets, width=44)
    print()
    print(f"for contrast: sync 1 MB = {rate['sync1m'] / rate['rewrite1m']:.1f}x raw rewrite 1 MB")
    print(f"async 1 MB / sync 1 MB = {rate['async1m'] / rate['sync1m']:.1f}x (no target)")
    us = {key: 1e6 / value for key, value in rate.items()}
    print(
        f"per update: sync 5 KB {us['sync5']:.0f} us = in-memory store {us['memory5']:.0f} us + "
        f"persistence {us['sync5'] - us['memory5']:.0f} us; raw append+fsync {us['append']:.0f} us"
    )
    print(
        f"async 5 KB: {rate['async5'] / rate['memory5']:.0%} of the in-memory store's rate, "
        f"{written['async 5 KB'] / max(batches, 1):.0f} versions per group commit on average; "
        f"async / sync can be at most {rate['memory5'] / rate['sync5']:.1f}x on this disk "
        "(in-memory rate / sync rate)"
    )


if __name__ == "__main__":
    main()
