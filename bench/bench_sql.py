"""Benchmark: durable updates/s of PersistentStateStore on PostgreSQL and SQLite.

Run from the repository root (needs the ``bench`` extra: ``pip install -e '.[bench]'``)::

    .venv/bin/python bench/bench_sql.py              # ~20 s
    .venv/bin/python bench/bench_sql.py --quick      # ~8 s, noisier
    .venv/bin/python bench/bench_sql.py --profile    # + where agui-state's CPU time goes

PostgreSQL is the server at ``AGUI_STATE_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); everything goes into a
fresh schema, dropped at the end. SQLite uses files in a temporary folder.
Every update is a one-op ``replace`` of a leaf of an AG-UI-like state (the
states and the leaf of ``bench_patch.py``). Measured on each database:

* **synchronous** updates/s of ``PersistentStateStore`` (each update is
  committed before the next one starts) on a ~5 KB state, next to

  - the **raw driver** (psycopg 3 / stdlib ``sqlite3``) doing the same durable
    writes with the same statements and round trips. One version costs the SQL
    backend on PostgreSQL (``agui_state/backends/sql/hot.py``) one
    autocommitted statement, ``WITH moved AS (UPDATE states SET head = n,
    updated_at = ... WHERE state_id = ... AND head = n - 1 RETURNING state_id)
    INSERT INTO versions (...) SELECT ... FROM moved CROSS JOIN (VALUES
    (...))``: 1 round trip, as agui-state makes (its pool checks connections
    on checkout without a round trip). On SQLite
    (``agui_state/backends/sql/writes.py``): ``BEGIN IMMEDIATE``, ``UPDATE
    states ... RETURNING head``, ``INSERT`` of the version row, ``COMMIT``.
    Every ``checkpoint_interval``-th version also carries the full state,
    stored once in the version row (the states row refers to it). The raw tables are created by the
    backend's own ``setup()`` (same columns, types, keys and indexes); one
    commit per update. The raw writer keeps one connection and one cursor,
    with no pool. Target: agui-state >= 0.8x raw;
  - **LangGraph**'s checkpointer (``PostgresSaver.put`` / ``SqliteSaver.put``,
    from langgraph-checkpoint-postgres / -sqlite) storing the same state as
    the value of one channel of a new checkpoint per update, in the same
    database. Target: agui-state >= 1.5x LangGraph;

* the same synchronous rate on a ~1 MB state. Target: at least half the 5 KB
  rate (a version stores its delta, not the state). LangGraph's 1 MB rate is
  shown for contrast: it stores the whole state on every put;
* **asynchronous** mode (``synchronous=False``: write-behind queue, group
  commit) updates/s, the final ``flush()`` inside the timing. Target: >= 10x
  the synchronous rate.

The contenders of a comparison run in interleaved rounds of the same number
of updates (a multiple of the checkpoint interval, so every batch writes the
same number of full-state checkpoints); the best round of each is kept. Only
the ratios mean something: absolute rates mostly measure how fast this disk
makes a commit durable (fsync).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bench_patch import human_bytes, leaf_patch, make_state

from agui_state import PersistentStateStore
from agui_state.backends.sql import SQLBackend
from agui_state.config import StorageConfig, redact_url

try:
    import psycopg
    from langgraph.checkpoint.base import (
        ChannelVersions,
        Checkpoint,
        create_checkpoint,
        empty_checkpoint,
    )
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.sqlite import SqliteSaver
    from psycopg.rows import dict_row
except ImportError as exc:  # the bench extra is not installed
    sys.exit(
        f"bench_sql.py needs the 'bench' extra ({exc.name} is missing); install it with:\n"
        "    .venv/bin/pip install -e '.[bench]'"
    )

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHECKPOINT_INTERVAL = 100  # the store's default; the raw writers mirror it
CHANNEL = "state"  # the LangGraph channel holding the whole state
SMALL, LARGE = 5 * 1024, 1024 * 1024


def dumps(value: Any) -> str:
    """Compact JSON, as the SQL backend serializes documents."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Workload:
    """One contender's private state and the leaf each update replaces.

    Raw writers and LangGraph change the leaf in place (they keep no history);
    agui-state applies the same replace as a JSON Patch.
    """

    state: dict[str, Any]
    path: str  # JSON Pointer of the leaf
    parent: dict[str, Any]  # the object holding the leaf
    key: str
    size: int  # bytes of compact JSON

    @classmethod
    def build(cls, target_bytes: int) -> Workload:
        state = make_state(target_bytes)
        path = leaf_patch(state)[0]["path"]
        *parents, key = path.lstrip("/").split("/")
        node: Any = state
        for token in parents:
            node = node[int(token)] if isinstance(node, list) else node[token]
        return cls(state, path, node, key, len(dumps(state)))


# --------------------------------------------------------------------------- contenders
class Contender(Protocol):
    def update(self) -> None:
        """One update: durable when it returns (synchronous) or queued (async)."""

    def finish(self) -> None:
        """End of a timed batch (async: flush); inside the timing."""

    def check(self) -> None:
        """Assert that the last update is stored (after the timing)."""


class Agui:
    """``PersistentStateStore.apply_patch`` of a one-op ``replace``."""

    def __init__(self, config: StorageConfig, state_id: str, w: Workload, sync: bool) -> None:
        self.store = PersistentStateStore(config, state_id, synchronous=sync)
        self.store.set("", w.state)  # version 1 (untimed)
        self.store.flush()
        self.path = w.path
        self.value = 0

    def update(self) -> None:
        self.value += 1
        self.store.apply_patch([{"op": "replace", "path": self.path, "value": self.value}])

    def finish(self) -> None:
        self.store.flush()

    def check(self) -> None:
        self.store.flush()
        sid = self.store.state_id
        assert self.store.backend.head_version(sid) == self.store.version
        assert self.store.backend.get_state(sid) == self.store.get_state()

    def close(self) -> None:
        self.store.close()


class Raw:
    """The SQL backend's statements for one version (in a transaction), on the bare driver.

    Subclasses give the placeholder, how a transaction starts and how a
    timestamp is passed; the statements and their order are shared.
    """

    mark = "%s"

    def __init__(self, conn: Any, w: Workload, state_id: str, prefix: str = "raw_") -> None:
        self.conn, self.w, self.sid = conn, w, state_id
        m, states, versions = self.mark, f"{prefix}states", f"{prefix}versions"
        where = f"WHERE state_id = {m} AND head = {m} RETURNING head"
        self.move_head = f"UPDATE {states} SET head = {m}, updated_at = {m} {where}"
        # Like the backend: a version-carried checkpoint is stored once, in the
        # version row; the states row only refers to it.
        self.move_head_cp = (
            f"UPDATE {states} SET head = {m}, updated_at = {m}, "
            f"checkpoint_version = {m}, checkpoint = NULL {where}"
        )
        self.insert_version = (
            f"INSERT INTO {versions} (state_id, number, id, parent_id, ts, delta, metadata, "
            f"checkpoint) VALUES ({', '.join([m] * 8)})"
        )
        self.count = f"SELECT count(*) FROM {versions} WHERE state_id = {m}"
        self.cur = conn.cursor()
        self.head = 0
        self.parent_id: str | None = None
        now = self.timestamp()
        self.begin()
        self.cur.execute(
            f"INSERT INTO {states} (state_id, head, checkpoint_version, checkpoint, created_at, "
            f"updated_at) VALUES ({m}, 0, 0, {m}, {m}, {m})",
            (state_id, dumps(w.state), now, now),
        )
        self.conn.commit()

    def begin(self) -> None:
        """Start a transaction (psycopg sends BEGIN itself with the first statement)."""

    def timestamp(self) -> Any:
        return datetime.now(UTC)

    def update(self) -> None:
        w, number, cur = self.w, self.head + 1, self.cur
        w.parent[w.key] = number
        delta = dumps([{"op": "replace", "path": w.path, "value": number}])
        version_id, now = str(uuid.uuid4()), self.timestamp()
        checkpoint = dumps(w.state) if number % CHECKPOINT_INTERVAL == 0 else None
        self.begin()
        if checkpoint is None:
            cur.execute(self.move_head, (number, now, self.sid, number - 1))
        else:
            cur.execute(self.move_head_cp, (number, now, number, self.sid, number - 1))
        if cur.fetchone() is None:
            raise RuntimeError(f"raw writer: the head moved before version {number}")
        row = (self.sid, number, version_id, self.parent_id, now, delta, "{}", checkpoint)
        cur.execute(self.insert_version, row)
        self.conn.commit()
        self.head, self.parent_id = number, version_id

    def finish(self) -> None:
        pass

    def check(self) -> None:
        self.begin()
        self.cur.execute(self.count, (self.sid,))
        assert self.cur.fetchone()[0] == self.head
        self.conn.commit()


class RawPostgres(Raw):
    """psycopg 3 in autocommit: the backend's single statement per version (``_sql_hot``)."""

    def __init__(self, conn: Any, w: Workload, state_id: str, prefix: str = "raw_") -> None:
        super().__init__(conn, w, state_id, prefix)
        m, states, versions = self.mark, f"{prefix}states", f"{prefix}versions"
        where = f"WHERE state_id = {m} AND head = {m} RETURNING state_id"
        casts = ("BIGINT", "TEXT", "TEXT", "TIMESTAMP WITH TIME ZONE", "JSON", "JSON", "JSON")
        names = ", ".join(f"c{i}" for i in range(len(casts)))
        insert = (
            f"INSERT INTO {versions} (state_id, number, id, parent_id, ts, delta, metadata, "
            f"checkpoint) SELECT moved.state_id, {names} FROM moved CROSS JOIN (VALUES "
            f"({', '.join(f'CAST({m} AS {t})' for t in casts)})) AS r ({names})"
        )
        self.write = f"WITH moved AS (UPDATE {states} SET head = {m}, updated_at = {m} {where}) "
        self.write += insert
        self.write_cp = (
            f"WITH moved AS (UPDATE {states} SET head = {m}, updated_at = {m}, "
            f"checkpoint_version = {m}, checkpoint = NULL {where}) {insert}"
        )

    def update(self) -> None:
        w, number, cur = self.w, self.head + 1, self.cur
        w.parent[w.key] = number
        delta = dumps([{"op": "replace", "path": w.path, "value": number}])
        version_id, now = str(uuid.uuid4()), self.timestamp()
        checkpoint = dumps(w.state) if number % CHECKPOINT_INTERVAL == 0 else None
        row = (number, version_id, self.parent_id, now, delta, "{}", checkpoint)
        if checkpoint is None:
            cur.execute(self.write, (number, now, self.sid, number - 1, *row))
        else:
            cur.execute(self.write_cp, (number, now, number, self.sid, number - 1, *row))
        if cur.rowcount != 1:
            raise RuntimeError(f"raw writer: the head moved before version {number}")
        self.head, self.parent_id = number, version_id


class RawSQLite(Raw):
    """stdlib sqlite3, configured like the backend's engine (see ``_sql_engine``)."""

    mark = "?"

    def begin(self) -> None:
        # isolation_level=None: sqlite3 opens no transaction itself. The
        # backend writes with BEGIN IMMEDIATE (write lock taken up front).
        self.cur.execute("BEGIN IMMEDIATE")

    def timestamp(self) -> Any:
        # SQLAlchemy stores SQLite datetimes as naive UTC text.
        return datetime.now(UTC).replace(tzinfo=None).isoformat(" ")


class LangGraph:
    """``saver.put`` of a new checkpoint whose one channel holds the whole state."""

    def __init__(self, saver: Any, w: Workload, thread_id: str) -> None:
        self.saver, self.w = saver, w
        self.config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        self.template: Checkpoint = empty_checkpoint()
        self.template["channel_values"] = {CHANNEL: w.state}
        self.version: str | None = None
        self.step = 0

    def update(self) -> None:
        self.step += 1
        self.w.parent[self.w.key] = self.step
        self.version = self.saver.get_next_version(self.version, None)
        new_versions: ChannelVersions = {CHANNEL: self.version}
        self.template["channel_versions"] = new_versions
        checkpoint = create_checkpoint(self.template, None, self.step)
        metadata: Any = {"source": "update", "step": self.step, "parents": {}}
        self.config = self.saver.put(self.config, checkpoint, metadata, new_versions)

    def finish(self) -> None:
        pass

    def check(self) -> None:
        found = self.saver.get_tuple(self.config)
        assert found is not None, "LangGraph lost the last checkpoint"
        assert found.checkpoint["channel_values"][CHANNEL] == self.w.state


# --------------------------------------------------------------------------- databases
@dataclass
class Database:
    """How to build each contender on one database."""

    title: str
    agui_config: StorageConfig
    raw_label: str
    lg_label: str
    raw: Callable[[Workload, str], Contender]
    langgraph: Callable[[Workload, str], Contender]


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL in the form libpq accepts (no ``+driver``)."""
    scheme, sep, rest = url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


@contextmanager
def postgres(url: str) -> Iterator[Database]:
    """A fresh schema holding every contender's tables; dropped at the end."""
    dsn = libpq_url(url)
    schema = f"agui_bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with ExitStack() as stack:
            raw_tables = SQLBackend(StorageConfig.from_url(url, schema=schema, table_prefix="raw_"))
            raw_tables.setup()
            raw_tables.close()
            in_schema = f"-c search_path={schema}"

            def raw(w: Workload, sid: str) -> Contender:
                # Autocommit: one statement per update, committed by itself.
                conn = psycopg.connect(dsn, options=in_schema, autocommit=True)
                stack.callback(conn.close)
                return RawPostgres(conn, w, sid)

            # As PostgresSaver.from_conn_string connects, with our schema first.
            lg_conn = psycopg.connect(
                dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row, options=in_schema
            )
            stack.callback(lg_conn.close)
            saver = PostgresSaver(lg_conn)
            saver.setup()
            server = admin.info.server_version
            yield Database(
                f"PostgreSQL {server // 10000}.{server % 10000} at {redact_url(url)}, "
                f"schema {schema} (dropped at the end)",
                StorageConfig.from_url(url, schema=schema),
                "raw psycopg 3, same SQL",
                "LangGraph PostgresSaver.put",
                raw,
                lambda w, sid: LangGraph(saver, w, sid),
            )
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


@contextmanager
def sqlite(folder: Path) -> Iterator[Database]:
    """One database file per contender in ``folder`` (WAL mode everywhere)."""
    with ExitStack() as stack:
        raw_path = folder / "raw.db"
        raw_tables = SQLBackend(
            StorageConfig.from_url(f"sqlite:///{raw_path}", table_prefix="raw_")
        )
        raw_tables.setup()
        raw_tables.close()

        def connect_raw() -> sqlite3.Connection:
            conn = sqlite3.connect(raw_path, isolation_level=None, check_same_thread=False)
            stack.callback(conn.close)
            for pragma in ("busy_timeout = 5000", "foreign_keys = ON", "journal_mode = WAL"):
                conn.execute(f"PRAGMA {pragma}")
            return conn

        def raw(w: Workload, sid: str) -> Contender:
            return RawSQLite(connect_raw(), w, sid)

        # Not set by anyone: every contender gets the build's default (FULL,
        # an fsync per commit in WAL mode). Shown so a surprising rate can be checked.
        level = connect_raw().execute("PRAGMA synchronous").fetchone()[0]
        synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))

        # As SqliteSaver.from_conn_string connects; setup() turns WAL on.
        lg_conn = sqlite3.connect(folder / "langgraph.db", check_same_thread=False)
        stack.callback(lg_conn.close)
        saver = SqliteSaver(lg_conn)
        saver.setup()
        yield Database(
            f"SQLite {sqlite3.sqlite_version}, files in {folder} (WAL, synchronous={synchronous})",
            StorageConfig.from_url(f"sqlite:///{folder / 'agui.db'}"),
            "raw sqlite3, same SQL",
            "LangGraph SqliteSaver.put",
            raw,
            lambda w, sid: LangGraph(saver, w, sid),
        )


# --------------------------------------------------------------------------- timing
def measure(
    contenders: dict[str, Contender],
    updates: dict[str, int],
    rounds: int,
    overall: dict[str, float] | None = None,
) -> dict[str, float]:
    """Best updates/s of each contender over ``rounds`` interleaved batches.

    Each round runs every contender once, in a rotating order, so slow phases
    of the machine (other processes, autovacuum, WAL checkpoints) hit all of
    them alike; the best batch is the least disturbed one. ``overall``, if
    given, receives each contender's updates/s over all rounds (every update
    in its true proportion, rare checkpoints included).
    """
    names = list(contenders)
    for name in names:  # warm-up: prepared statements, statement caches, pools
        for _ in range(5):
            contenders[name].update()
        contenders[name].finish()
    best = dict.fromkeys(names, 0.0)
    spent = dict.fromkeys(names, 0.0)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            contender, n = contenders[name], updates[name]
            start = time.perf_counter()
            for _ in range(n):
                contender.update()
            contender.finish()
            elapsed = time.perf_counter() - start
            best[name] = max(best[name], n / elapsed)
            spent[name] += elapsed
    if overall is not None:
        overall.update({name: rounds * updates[name] / spent[name] for name in names})
    for contender in contenders.values():
        contender.check()
    return best


@dataclass(frozen=True)
class Plan:
    rounds: int
    sync_updates: int  # per batch; a multiple of CHECKPOINT_INTERVAL
    lg_large_updates: int  # LangGraph at 1 MB is slow: fewer puts per batch
    async_updates: int
    profile: bool = False


@dataclass
class Row:
    case: str
    label: str
    rate: float
    ratio_name: str = ""
    ratio: float | None = None
    target: float | None = None  # minimum ratio; None: shown for contrast
    overall: float | None = None  # updates/s over all rounds (see measure)

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "met" if self.ratio >= self.target else "MISSED"


def run_database(db: Database, plan: Plan) -> tuple[list[Row], str]:
    """Measure every case on ``db``; returns the table rows and the profile (if asked)."""
    agui_label = "agui-state PersistentStateStore"
    small_w, large_w = Workload.build(SMALL), Workload.build(LARGE)
    with ExitStack() as stack:

        def agui(w: Workload, sid: str, sync: bool = True) -> Agui:
            contender = Agui(db.agui_config, sid, w, sync)
            stack.callback(contender.close)
            return contender

        n = plan.sync_updates
        small_agui = agui(small_w, "sync-small")
        overall: dict[str, float] = {}
        # One interleaved set, so the 1 MB / 5 KB ratio compares rounds run
        # under the same conditions as the 5 KB comparisons.
        sync = measure(
            {
                "agui": small_agui,
                "raw": db.raw(Workload.build(SMALL), "raw-small"),
                "lg": db.langgraph(Workload.build(SMALL), "lg-small"),
                "agui-large": agui(large_w, "sync-large"),
            },
            {"agui": n, "raw": n, "lg": n, "agui-large": n},
            plan.rounds,
            overall,
        )
        lg_large = measure(
            {"lg": db.langgraph(Workload.build(LARGE), "lg-large")},
            {"lg": plan.lg_large_updates},
            plan.rounds,
        )["lg"]
        background = measure(
            {"agui": agui(Workload.build(SMALL), "async-small", sync=False)},
            {"agui": plan.async_updates},
            plan.rounds,
        )["agui"]
        report = profile(db.title.split()[0], small_agui) if plan.profile else ""
    small, raw, lg, large = sync["agui"], sync["raw"], sync["lg"], sync["agui-large"]
    s_case, l_case = f"sync {human_bytes(small_w.size)}", f"sync {human_bytes(large_w.size)}"
    a_case = f"async {human_bytes(small_w.size)}"
    rows = [
        Row(s_case, agui_label, small, overall=overall["agui"]),
        Row(s_case, db.raw_label, raw, "agui / raw", small / raw, 0.8),
        Row(s_case, db.lg_label, lg, "agui / LangGraph", small / lg, 1.5),
        Row(
            l_case,
            agui_label,
            large,
            "agui 1 MB / agui 5 KB",
            large / small,
            0.5,
            overall=overall["agui-large"],
        ),
        Row(l_case, db.lg_label, lg_large, "agui / LangGraph", large / lg_large),
        Row(
            a_case, "agui-state, flush() timed", background, "async / sync", background / small, 10
        ),
    ]
    return rows, report


def profile(name: str, contender: Agui, updates: int = 500) -> str:
    """Report where the CPU time of synchronous 5 KB updates goes (cProfile, CPU clock).

    The CPU clock leaves out the time spent waiting for the database, which
    is what raw drivers pay too; what remains is our overhead.
    """
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(updates):
        contender.update()
    profiler.disable()
    out = io.StringIO()
    out.write(f"{name}: CPU profile of {updates} synchronous 5 KB agui-state updates\n")
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return out.getvalue()


def print_table(title: str, rows: list[Row]) -> None:
    print(title)
    header = (
        f"{'case':<14} {'contender':<32} {'updates/s':>9}   {'ratio':<28} {'target':>6}  {'':<6}"
    )
    print(header)
    print("-" * len(header))
    last = ""
    for row in rows:
        case, last = ("" if row.case == last else row.case), row.case
        ratio = f"{row.ratio_name} {row.ratio:.2f}x" if row.ratio is not None else ""
        target = f">={row.target:g}x" if row.target is not None else ""
        line = (
            f"{case:<14} {row.label:<32} {row.rate:>9,.0f}   {ratio:<28} {target:>6}  {row.verdict}"
        )
        print(line.rstrip())
    raw, lg = rows[1].rate, rows[2].rate
    print(
        f"(raw / LangGraph = {raw / lg:.2f}x: the best agui / LangGraph ratio these statements"
        " allow at 5 KB)\n"
    )


def postgres_unreachable(url: str) -> str | None:
    """Why the server at ``url`` cannot be used, or None when it answers."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (noisier)")
    parser.add_argument(
        "--profile", action="store_true", help="also print a CPU profile of agui-state updates"
    )
    args = parser.parse_args()
    plan = (
        Plan(3, sync_updates=100, lg_large_updates=10, async_updates=2_000, profile=args.profile)
        if args.quick
        else Plan(
            9, sync_updates=200, lg_large_updates=20, async_updates=4_000, profile=args.profile
        )
    )
    url = os.environ.get("AGUI_STATE_POSTGRES_URL", DEFAULT_PG_URL)
    print("one-op 'replace' of a leaf per update; a synchronous update is committed before")
    print("the next one starts; best of interleaved rounds, ratios from this process\n")
    started = time.perf_counter()
    verdicts: list[str] = []
    why = postgres_unreachable(url)
    if why is not None:
        print(f"PostgreSQL at {redact_url(url)} is unreachable ({why}): skipped.")
        print("Set AGUI_STATE_POSTGRES_URL to a server where you may create a schema.\n")
    else:
        with postgres(url) as db:
            rows, report = run_database(db, plan)
        print_table(db.title, rows)
        print(report, end="")
        verdicts += [row.verdict for row in rows if row.verdict]
    with (
        tempfile.TemporaryDirectory(prefix="agui-bench-sql-") as folder,
        sqlite(Path(folder)) as db,
    ):
        rows, report = run_database(db, plan)
        print_table(db.title, rows)
        print(report, end="")
        verdicts += [row.verdict for row in rows if row.verdict]
    met = verdicts.count("met")
    print(f"{met} of {len(verdicts)} targets met; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
