"""Every benchmark in one run: one table, each target's verdict, a chart, the README section.

Run from the repository root::

    bench/run                 # ~3-4 min (full rounds)
    bench/run --quick         # ~1-2 min, noisier
    python -m bench --no-readme --chart /tmp/ratios.png

It reuses the per-backend scripts' measuring functions (``bench_store``,
``bench_patch``, ``bench_file``, ``bench_sql``, ``bench_redis``); each of
them interleaves its contenders round by round in this one process, so the
ratios compare figures taken under the same machine load. PostgreSQL and
Redis are the servers at ``AGUI_STATE_POSTGRES_URL`` / ``AGUI_STATE_REDIS_URL``
(the scripts' defaults otherwise); a server that cannot be reached is
reported as skipped, never silently. The peers (LangGraph savers,
jsonpatch, matplotlib) come with ``pip install -e '.[bench]'``.

The targets are the performance issue's. Only ratios are compared with
them, except the async rates, whose targets are absolute updates/s. Rates
are the best round, except in the "1 MB / 5 KB" column: there both sides
are taken over all rounds, because with the size-aware checkpoint cadence a
1 MB state carries a checkpoint once per 1,000 versions, which the best
round would leave out.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the scripts import each other by module name

import bench_file  # noqa: E402
import bench_memory  # noqa: E402
import bench_patch  # noqa: E402
import bench_store  # noqa: E402

README = HERE.parent / "README.md"
START, END = "<!-- bench/run: start -->", "<!-- bench/run: end -->"


@dataclass
class Target:
    """One target of the issue: a measured figure against what it needs."""

    backend: str
    what: str
    value: float
    needed: float
    unit: str = "x"  # "x" for a ratio, "/s" for a rate, "us" for microseconds
    higher_is_better: bool = True
    chart: bool = True  # drawn in the ratio chart (rates and µs are not ratios)
    # What the fastest possible code on this path reaches, measured in this
    # run (same unit as ``value``), and how; None when not measured.
    bound: float | None = None
    bound_how: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.needed if self.higher_is_better else self.value <= self.needed

    def figure(self, value: float | None = None) -> str:
        v = self.value if value is None else value
        if self.unit == "/s":
            return f"{v:,.0f}/s"
        if self.unit == "us":
            return f"{v:.1f} µs"
        return f"{v:.2f}x"

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else f"MISSED ({self.figure()})"
        text = f"{self.backend} {self.what}: {self.figure()} (target {sign} " + (
            f"{self.figure(self.needed)}) {verdict}"
        )
        if self.bound is not None:
            text += f"; measured bound {self.figure(self.bound)} ({self.bound_how})"
        return text


@dataclass
class Row:
    """One backend's line of the table (cells already formatted)."""

    backend: str
    sync: str = ""
    raw: str = ""
    peer: str = ""
    background: str = ""
    large: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Seconds per one-op update of the in-memory StateStore on the 5 KB state,
    # measured in this process: the CPU every persisted update pays on top of
    # its durable write (see ``sync_bound``).
    store_s: float | None = None

    def store_seconds(self) -> float:
        """The in-memory store's seconds per 5 KB update (measured once, when first needed)."""
        if self.store_s is None:
            _, rows = bench_store.measure(3)
            self.store_s = rows[0][2]
        return self.store_s


def sync_bound(raw_rate: float, store_s: float) -> float:
    """The best sync / raw ratio possible: the raw write plus the store's own CPU per update."""
    raw_s = 1 / raw_rate
    return raw_s / (raw_s + store_s)


def ratio_cell(label: str, rate: float, ratio: float) -> str:
    return f"{label} {rate:,.0f} ({ratio:.2f}x)"


def run_memory(res: Results, quick: bool) -> None:
    batches = 3 if quick else 9
    _, rows = bench_store.measure(batches)
    (_, _, ours, raw), (_, _, ours_l, _) = rows
    small = bench_patch.make_state(5 * 1024)
    patch = bench_patch.leaf_patch(small)
    budget, repeats = (0.05, 3) if quick else (0.2, 5)
    import jsonpatch

    from agui_state.patch import apply_patch

    engine = bench_patch.rate(functools.partial(apply_patch, small, patch), budget, repeats)
    theirs = bench_patch.rate(
        functools.partial(jsonpatch.apply_patch, small, patch), budget, repeats
    )
    res.rows.append(
        Row(
            "memory-only StateStore",
            f"{ours * 1e6:.1f} µs/update",
            f"raw engine {raw * 1e6:.1f} µs ({ours / raw:.2f}x its time)",
            f"engine {engine / theirs:.1f}x jsonpatch",
            "",
            f"{ours / ours_l:.2f}x",
        )
    )
    res.store_s = ours
    floor = bench_store.floor_seconds(small, batches)
    how = "the unavoidable work alone: engine, version id, timestamp, two versions, window"
    res.targets += [
        Target(
            "memory",
            "µs per 5 KB one-op update",
            ours * 1e6,
            7.0,
            "us",
            False,
            False,
            floor * 1e6,
            how,
        ),
        Target(
            "memory",
            "store time / raw engine time",
            ours / raw,
            1.4,
            "x",
            False,
            bound=floor / raw,
            bound_how=how,
        ),
        Target("memory", "engine / jsonpatch (5 KB)", engine / theirs, 1.0),
    ]


class WideArray:
    """A store holding a list of ``items`` small objects, written one op at a time.

    ``where`` is "memory" (a StateStore) or "file" (a synchronous
    PersistentStateStore on the file backend: an fsync per update). The store
    stays open between rounds, and the first write is made before timing: it
    path-copies the list, which the initial document shares with version 1's
    delta.
    """

    def __init__(self, items: int, op: str, where: str, folder: str) -> None:
        from agui_state.persistent import PersistentStateStore
        from agui_state.store import StateStore

        self.items, self.op, self.counter = items, op, 0
        doc = {"items": [{"id": i, "ok": True} for i in range(items)]}
        self.store: Any = (
            StateStore("wide")
            if where == "memory"
            else PersistentStateStore(f"file://{folder}", "wide")
        )
        self.store.set("", doc)
        self.run(1)

    def run(self, n: int) -> float:
        """Write ``n`` updates; return the seconds per update."""
        store, items = self.store, self.items
        start = time.perf_counter()
        for _ in range(n):
            self.counter += 1
            if self.op == "append":
                store.apply_patch([{"op": "add", "path": "/items/-", "value": self.counter}])
            else:
                path = f"/items/{items // 2}/id"
                store.apply_patch([{"op": "replace", "path": path, "value": self.counter}])
        return (time.perf_counter() - start) / n


def run_wide(res: Results, quick: bool) -> None:
    rounds = 3 if quick else 7
    # Mean over all rounds, not the best one: the path copy after each
    # checkpoint (at most every 1,000 versions) counts in its true proportion.
    for where, n in (("memory", 400), ("file", 150)):
        cells = []
        for op in ("replace", "append"):
            with (
                tempfile.TemporaryDirectory(prefix="agui-bench-wide-") as small_dir,
                tempfile.TemporaryDirectory(prefix="agui-bench-wide-") as large_dir,
            ):
                small_run = WideArray(100, op, where, small_dir)
                large_run = WideArray(100_000, op, where, large_dir)
                small = large = 0.0
                for _ in range(rounds):  # interleaved: the two arrays take turns
                    small += small_run.run(n) / rounds
                    large += large_run.run(n) / rounds
                for run in (small_run, large_run):
                    if where == "file":
                        run.store.close()
            cells.append(f"{op} {large * 1e6:,.1f} vs {small * 1e6:,.1f} µs ({large / small:.2f}x)")
            res.targets.append(
                Target(
                    where, f"wide array {op}: 100k / 100 elements", large / small, 5.0, "x", False
                )
            )
        label = "memory" if where == "memory" else "file (sync, fsync per update)"
        res.rows.append(Row(f"{label}, 100k-element array", "; ".join(cells)))


def run_rss(res: Results, quick: bool) -> None:
    m = bench_memory.measure(quick)
    mib = bench_memory.mib
    res.rows.append(
        Row(
            f"memory (RSS), 5 MB state, {m.versions // 1000}k versions",
            f"RSS growth {mib(m.store_growth)} for {mib(m.denominator)} of document + kept "
            f"deltas ({m.kept:,} versions kept)",
        )
    )
    res.targets.append(
        Target(
            "memory",
            "RSS growth / (document + kept deltas)",
            m.ratio,
            bench_memory.TARGET,
            "x",
            False,
            bound=m.bound,
            bound_how="a copy of the document and the kept deltas as Python objects alone",
        )
    )


def run_file(res: Results, quick: bool) -> None:
    measured = bench_file.measure(quick)
    row = f"file ({bench_file.check_disk(Path(tempfile.gettempdir()))})"
    store_row(res, "file", row, measured, raw="append", label="append+fsync", target=0.5)


def persisted_targets(
    name: str,
    raw_what: str,
    sync: float,
    raw_rate: float,
    raw_target: float,
    store_s: float,
    background: float,
    async_target: float,
    large: float,
) -> list[Target]:
    """A persisted backend's targets: sync / raw, async rate, async / sync, 1 MB / 5 KB.

    ``store_s`` is the in-memory store's seconds per update in this run: the
    bounds are what the store's own CPU leaves possible.
    """
    memory = 1 / store_s
    return [
        Target(
            name,
            f"sync / {raw_what}",
            sync / raw_rate,
            raw_target,
            bound=sync_bound(raw_rate, store_s),
            bound_how="raw write + the in-memory store's CPU per update",
        ),
        Target(
            name,
            "async rate, flush timed",
            background,
            async_target,
            "/s",
            chart=False,
            bound=memory,
            bound_how="the in-memory store alone: the caller's share under the GIL",
        ),
        Target(
            name,
            "async / sync",
            background / sync,
            10,
            bound=memory / sync,
            bound_how="in-memory store rate / sync rate",
        ),
        Target(name, "1 MB / 5 KB rate", large, 0.6),
    ]


def store_row(
    res: Results,
    name: str,
    row: str,
    measured: bench_file.Measured,
    *,
    raw: str,
    label: str,
    target: float,
) -> None:
    """A backend measured with ``bench_file``'s cases: its row and its targets.

    ``raw`` is the raw baseline's case key, ``label`` its name, ``target`` the
    sync / raw ratio wanted.
    """
    m = measured.rate
    sync, baseline, background = m["sync5"], m[raw], m["async5"]
    large = measured.mean["sync1m"] / measured.mean["sync5"]
    memory = m["memory5"]  # the in-memory store alone, same state and patch, same run
    res.rows.append(
        Row(
            row,
            f"{sync:,.0f}",
            ratio_cell(label, baseline, sync / baseline),
            "",
            f"{background:,.0f} ({background / sync:.1f}x sync)",
            f"{large:.2f}x",
        )
    )
    res.targets += persisted_targets(
        name, f"raw {label}", sync, baseline, target, 1 / memory, background, 60_000, large
    )


def sql_row(res: Results, name: str, rows: list[Any], peer_target: float, rate: int) -> None:
    agui, raw, peer, large_row, _, background = rows
    # Over all rounds, not the best one: a 1 MB checkpoint comes once per
    # 1,000 versions and the best round would leave it out.
    large = large_row.overall / agui.overall
    res.rows.append(
        Row(
            name,
            f"{agui.rate:,.0f}",
            ratio_cell("same SQL", raw.rate, agui.rate / raw.rate),
            ratio_cell(peer.label.split()[1].split(".")[0], peer.rate, agui.rate / peer.rate),
            f"{background.rate:,.0f} ({background.rate / agui.rate:.1f}x sync)",
            f"{large:.2f}x",
        )
    )
    store_s = res.store_seconds()
    common = persisted_targets(
        name, "raw driver", agui.rate, raw.rate, 0.85, store_s, background.rate, rate, large
    )
    peer_target_line = Target(
        name,
        "sync / LangGraph saver",
        agui.rate / peer.rate,
        peer_target,
        bound=raw.rate / peer.rate * sync_bound(raw.rate, store_s),
        bound_how="raw driver with our statements + the store's CPU, / LangGraph",
    )
    res.targets += [common[0], peer_target_line, *common[1:]]


def run_sql(res: Results, quick: bool) -> None:
    import bench_sql

    plan = (
        bench_sql.Plan(4, sync_updates=300, lg_large_updates=10, async_updates=2_000)
        if quick
        else bench_sql.Plan(6, sync_updates=200, lg_large_updates=10, async_updates=4_000)
    )
    with (
        tempfile.TemporaryDirectory(prefix="agui-bench-sql-") as folder,
        bench_sql.sqlite(Path(folder)) as db,
    ):
        rows, _ = bench_sql.run_database(db, plan)
    sql_row(res, "SQLite", rows, 1.3, 60_000)
    url = os.environ.get("AGUI_STATE_POSTGRES_URL", bench_sql.DEFAULT_PG_URL)
    why = bench_sql.postgres_unreachable(url)
    if why is not None:
        res.rows.append(Row("PostgreSQL", f"skipped: unreachable ({why})"))
        return
    with bench_sql.postgres(url) as db:
        rows, _ = bench_sql.run_database(db, plan)
    sql_row(res, "PostgreSQL", rows, 1.5, 40_000)


def run_redis(res: Results, quick: bool) -> None:
    import bench_redis
    import redis

    url = os.environ.get("AGUI_STATE_REDIS_URL", bench_redis.DEFAULT_URL)
    try:
        measured = bench_redis.measure(quick, url)
    except redis.ConnectionError as exc:
        res.rows.append(Row("Redis", f"skipped: unreachable ({exc})"))
        return
    store_row(res, "Redis", "Redis", measured, raw="raw5", label="MULTI/EXEC", target=0.85)


HEADER = (
    "backend",
    "agui-state sync (updates/s)",
    "same statements, raw driver",
    "peer",
    "async, flush timed",
    "1 MB / 5 KB",
)


def markdown_table(res: Results) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    for r in res.rows:
        cells = (r.backend, r.sync, r.raw, r.peer, r.background, r.large)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(res: Results) -> list[str]:
    return [t.line() for t in res.targets]


LOAD_AT_START = os.getloadavg()[0]


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.node() or 'host'}: {os.cpu_count()} cores, {platform.machine()}, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"load average {LOAD_AT_START:.1f} at the start of the run and {load[0]:.1f} at the end"
    )


def load_remark() -> str:
    """What the load average says about the run's noise (2 shared cores here)."""
    busiest = max(LOAD_AT_START, os.getloadavg()[0])
    if busiest > (os.cpu_count() or 1) / 2:
        return "The machine was busy with other work during the run, so the figures are noisy."
    return "Nothing else ran on the machine during the run."


def chart(res: Results, path: Path) -> None:
    """A horizontal bar per ratio target: measured (green met, red missed) and the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = [t for t in res.targets if t.chart]
    # Lower-is-better ratios are drawn inverted so that every bar reads "longer is better".
    values = [t.value if t.higher_is_better else 1 / t.value for t in targets]
    needed = [t.needed if t.higher_is_better else 1 / t.needed for t in targets]
    labels = [
        f"{t.backend}: {t.what if t.higher_is_better else f'1 / ({t.what})'}" for t in targets
    ]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(targets) + 1.2))
    ys = range(len(targets))
    colors = ["#2e7d32" if t.met else "#c62828" for t in targets]
    ax.barh(list(ys), values, color=colors)
    ax.scatter(needed, list(ys), marker="|", s=300, color="black", zorder=3, label="target")
    bounded = [
        (y, t.bound if t.higher_is_better else 1 / t.bound)
        for y, t in zip(ys, targets, strict=True)
        if t.bound is not None
    ]
    if bounded:
        ax.scatter(
            [b for _, b in bounded],
            [y for y, _ in bounded],
            marker="D",
            s=22,
            color="#757575",
            zorder=4,
            label="measured bound",
        )
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    # Bars start here on a log axis: 0.1, or lower when a bar would not show.
    ax.set_xlim(left=min(0.1, *(v * 0.8 for v in values)))
    ax.set_xlabel("ratio, log scale (green met, red missed)")
    ax.set_title("agui-state: ratios against same-process baselines", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_readme(res: Results, when: str, quick: bool, png: Path) -> None:
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{README} has no {START} ... {END} section to regenerate")
    met = sum(t.met for t in res.targets)
    body = "\n".join(
        [
            START,
            f"Generated by `bench/run{' --quick' if quick else ''}` on {when} "
            f"({machine()}). Rates are updates/s (best of interleaved rounds; the 1 MB / 5 KB "
            "column over all rounds, checkpoints included); only the ratios "
            "are comparable across machines. " + load_remark(),
            "",
            markdown_table(res),
            "",
            f"{met} of {len(res.targets)} targets met:",
            "",
            *(f"- {line}" for line in verdicts(res)),
            *(f"- {note}" for note in res.notes),
            "",
            f"![ratios against their targets]({png.relative_to(README.parent).as_posix()})",
            END,
        ]
    )
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    README.write_text(head + body + tail, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (noisier)")
    parser.add_argument("--chart", default=str(HERE / "ratios.png"), help="where to write the PNG")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite README.md")
    parser.add_argument(
        "--only", default="memory,wide,rss,file,sql,redis", help="comma-separated subset to run"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    res = Results()
    steps = {
        "memory": run_memory,
        "wide": run_wide,
        "rss": run_rss,
        "file": run_file,
        "sql": run_sql,
        "redis": run_redis,
    }
    for name in args.only.split(","):
        print(f"running {name}...", file=sys.stderr, flush=True)
        steps[name](res, args.quick)
    print(f"agui-state benchmarks, {when}; {machine()}")
    print("one-op 'replace' of a leaf of a ~5 KB state per update unless said\n")
    table = [HEADER, *((r.backend, r.sync, r.raw, r.peer, r.background, r.large) for r in res.rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    for cells in table:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    print()
    for line in verdicts(res):
        print(line)
    for note in res.notes:
        print(note)
    met = sum(t.met for t in res.targets)
    print(f"\n{met} of {len(res.targets)} targets met; {time.perf_counter() - started:.0f} s")
    png = Path(args.chart).resolve()
    chart(res, png)
    print(f"chart: {png}")
    if not args.no_readme:
        update_readme(res, when, args.quick, png)
        print(f"README section regenerated: {README}")


if __name__ == "__main__":
    main()
