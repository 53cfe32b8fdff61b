"""Benchmark: updates persisted in Redis vs raw redis-py doing the same writes.

Run from the repository root, with a Redis server reachable at
``AGUI_STATE_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``)::

    .venv/bin/python bench/bench_redis.py            # ~20-25 s
    .venv/bin/python bench/bench_redis.py --quick    # ~7 s, noisier

Every key is written under a unique prefix (``agui-bench:<pid>-<random>:``)
and deleted at the end. All figures come from this process, and each
contender is timed round by round, interleaved with the others, so that
load from other processes hits them alike. One update is a one-op JSON
Patch ``replace`` of a leaf in an AG-UI-like state (``bench_patch.make_state``).

* **sync**: ``PersistentStateStore(synchronous=True)`` on the Redis backend:
  each update is one ``EVALSHA`` of the write script (one round trip), which
  checks the stored head server-side, then appends the version.
* **raw**: plain redis-py writing what that script writes for one version,
  in one ``MULTI``/``EXEC`` round trip: ``ZADD`` of the version JSON (score =
  number), ``ZADD`` id -> number, ``HSET`` of the head in the meta hash,
  ``ZADD`` of the state id to the index; every 100th version also carries the
  full state, stored as the checkpoint (``HSET cpv cp``), as our store does
  with its default ``checkpoint_interval``. It builds the same compact
  version JSON (new id and timestamp) per update. It does *not* do the
  script's checks (key types, head), so it does a little less work.
* **async**: ``PersistentStateStore(synchronous=False)``: the writer thread
  sends up to ``batch_size`` (500) queued versions per script call (group
  commit); the timing includes ``flush()``.
* **in-memory**: ``StateStore`` alone, no persistence: the ceiling of any
  persistent mode, shown to explain the async figure.

Targets (issue): sync >= 0.8x raw; sync with a ~1 MB state within 2x of
~5 KB; async >= 10x sync. Redis runs with the server's own durability
settings (AOF/RDB) for both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import redis
from bench_file import Case, Measured, Updater, batch_rate, print_report, timed
from bench_patch import human_bytes, leaf_patch, make_state

from agui_state.config import StorageConfig
from agui_state.persistent import PersistentStateStore
from agui_state.store import StateStore

DEFAULT_URL = "redis://127.0.0.1:6379/15"
CHECKPOINT_INTERVAL = 100  # the library default, mirrored by the raw writer


def compact(value: Any) -> bytes:
    """The compact JSON our Redis codec stores."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RawRedis:
    """Raw redis-py: the writes of one version, in one MULTI/EXEC round trip."""

    def __init__(self, client: redis.Redis, prefix: str, state: dict[str, Any]) -> None:
        self.client = client
        self.state_id = "raw"
        base = f"{prefix}raw:s:{{raw}}:"
        self.meta, self.versions, self.ids = base + "meta", base + "v", base + "vid"
        self.index = f"{prefix}raw:index"
        self.state = json.loads(json.dumps(state))  # its own copy, changed in place
        self.path = leaf_patch(state)[0]["path"]
        self.leaf = self.state["messages"][len(self.state["messages"]) // 2]["meta"]
        self.number = 0
        self.parent: str | None = None

    def __call__(self) -> None:
        self.number += 1
        n = self.number
        self.leaf["tokens"] = n  # the same change as the store's update
        version_id = str(uuid.uuid4())
        version = {
            "format": 1,
            "kind": "version",
            "id": version_id,
            "state_id": self.state_id,
            "number": n,
            "parent_id": self.parent,
            "timestamp": datetime.now(UTC).isoformat(timespec="microseconds"),
            "delta": [{"op": "replace", "path": self.path, "value": n}],
            "metadata": {},
        }
        body = compact(version)
        checkpoint = compact(self.state) if n % CHECKPOINT_INTERVAL == 0 else b""
        if checkpoint:
            body = body[:-1] + b',"checkpoint":' + checkpoint + b"}"
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.versions, {body: n})
        pipe.zadd(self.ids, {version_id: n})
        if checkpoint:
            pipe.hset(self.meta, mapping={"head": n, "cpv": n, "cp": checkpoint})
        else:
            pipe.hset(self.meta, "head", n)
        pipe.zadd(self.index, {self.state_id: 0})
        pipe.execute()
        self.parent = version_id

    def trim(self) -> None:
        """Drop old versions between rounds (not timed), as ``prune_history`` does for ours."""
        floor = max(self.number - CHECKPOINT_INTERVAL, 0)
        self.client.zremrangebyscore(self.versions, "-inf", floor)
        self.client.zremrangebyscore(self.ids, "-inf", floor)


def plain_url(url: str) -> str:
    """``url`` without a query string (redis-py does not know our parameters)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def open_store(
    url: str, prefix: str, state_id: str, state: dict[str, Any], *, synchronous: bool
) -> PersistentStateStore:
    """A Redis-backed store under ``prefix`` holding ``state``."""
    config = StorageConfig.from_url(url)
    config.redis_options.key_prefix = prefix
    store = PersistentStateStore(config, state_id, synchronous=synchronous)
    store.set("", state)
    store.flush()
    return store


def measure(quick: bool, url: str) -> Measured:
    """Run every case in interleaved rounds; ``bench/run`` reuses this."""
    seconds, rounds, async_count = (0.3, 3, 3000) if quick else (0.8, 5, 8000)
    prefix = f"agui-bench:{os.getpid()}-{secrets.token_hex(4)}:"
    client = redis.Redis.from_url(plain_url(url))
    client.ping()
    small, large = make_state(5 * 1024), make_state(1024 * 1024)
    small_size, large_size = len(json.dumps(small)), len(json.dumps(large))
    names = ("sync5", "raw5", "sync1m", "raw1m", "async5", "async1m", "memory5")
    cases = {key: Case(key) for key in names}
    stores: list[PersistentStateStore] = []
    try:
        sync5 = open_store(url, prefix, "sync5", small, synchronous=True)
        stores.append(sync5)
        sync1m = open_store(url, prefix, "sync1m", large, synchronous=True)
        stores.append(sync1m)
        async5 = open_store(url, prefix, "async5", small, synchronous=False)
        stores.append(async5)
        async1m = open_store(url, prefix, "async1m", large, synchronous=False)
        stores.append(async1m)
        up_sync5, up_sync1m = Updater(sync5, small), Updater(sync1m, large)
        up_async5, up_async1m = Updater(async5, small), Updater(async1m, large)
        raw5, raw1m = (
            RawRedis(client, prefix + "5:", small),
            RawRedis(client, prefix + "1m:", large),
        )
        memory = StateStore("bench")
        memory.set("", small)
        up_memory = Updater(memory, small)

        for _ in range(rounds):
            cases["sync5"].add(timed(up_sync5, seconds))
            cases["raw5"].add(timed(raw5, seconds))
            cases["sync1m"].add(timed(up_sync1m, seconds))
            cases["raw1m"].add(timed(raw1m, seconds))
            cases["async5"].add(batch_rate(up_async5, async_count))
            cases["async1m"].add(batch_rate(up_async1m, async_count // 5))
            cases["memory5"].add(batch_rate(up_memory, async_count))
            for store in (sync1m, async1m):  # keep Redis memory small (1 MB per checkpoint)
                store.prune_history(CHECKPOINT_INTERVAL)
            raw1m.trim()
        versions = async5.stats()["versions_written"]
        batches = async5.stats()["batches_written"]
        server = client.info("server").get("redis_version", "?")
        persistence = client.info("persistence")
    finally:
        for store in stores:
            store.close()
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
        client.close()

    info = {
        "rounds": rounds,
        "server": server,
        "persistence": persistence,
        "small_size": small_size,
        "large_size": large_size,
        "versions": versions,
        "batches": batches,
    }
    return Measured.of(cases, info)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    args = parser.parse_args()
    url = os.environ.get("AGUI_STATE_REDIS_URL", DEFAULT_URL)
    if "+cluster" in urlsplit(url).scheme:
        sys.exit("bench_redis.py needs a single Redis node (the raw baseline is not cluster-aware)")
    measured = measure(args.quick, url)
    rate, info = measured.rate, measured.info
    rounds, server, persistence = info["rounds"], info["server"], info["persistence"]
    small_size, large_size = info["small_size"], info["large_size"]
    versions, batches = info["versions"], info["batches"]
    aof = "AOF on" if persistence.get("aof_enabled") else "AOF off"
    print(
        f"Redis {server} at {urlsplit(plain_url(url)).netloc.rpartition('@')[2]} ({aof}); "
        f"best of {rounds} rounds; one update = replace of one leaf"
    )
    print()
    rows = [
        (f"sync PersistentStateStore, {human_bytes(small_size)} state", rate["sync5"]),
        (f"raw redis-py MULTI/EXEC, {human_bytes(small_size)} state", rate["raw5"]),
        (f"sync PersistentStateStore, {human_bytes(large_size)} state", rate["sync1m"]),
        (f"raw redis-py MULTI/EXEC, {human_bytes(large_size)} state", rate["raw1m"]),
        (f"async + flush(), {human_bytes(small_size)} state", rate["async5"]),
        (f"async + flush(), {human_bytes(large_size)} state", rate["async1m"]),
        (f"in-memory StateStore only, {human_bytes(small_size)}", rate["memory5"]),
    ]
    targets = [
        ("sync 5 KB / raw 5 KB", rate["sync5"] / rate["raw5"], 0.8),
        ("sync 1 MB / sync 5 KB (O(delta) writes)", rate["sync1m"] / rate["sync5"], 0.5),
        ("async 5 KB / sync 5 KB (group commit)", rate["async5"] / rate["sync5"], 10.0),
    ]
    print_report(rows, targets, width=46)
    print()
    print(f"for contrast: sync 1 MB / raw 1 MB = {rate['sync1m'] / rate['raw1m']:.2f}x")
    print(f"async 1 MB / sync 1 MB = {rate['async1m'] / rate['sync1m']:.1f}x (no target)")
    us = {key: 1e6 / value for key, value in rate.items()}
    print(
        f"per update: sync {us['sync5']:.0f} us = in-memory store {us['memory5']:.0f} us + "
        f"persistence {us['sync5'] - us['memory5']:.0f} us; raw {us['raw5']:.0f} us"
    )
    print(
        f"async 5 KB: {rate['async5'] / rate['memory5']:.0%} of the in-memory store's rate, "
        f"{versions / max(batches, 1):.0f} versions per script call on average; async / sync "
        f"can be at most {rate['memory5'] / rate['sync5']:.1f}x here (in-memory rate / sync rate)"
    )


if __name__ == "__main__":
    main()
