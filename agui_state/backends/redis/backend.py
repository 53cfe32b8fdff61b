"""The Redis backend (``redis://``, ``rediss://``, ``redis+cluster://``), on redis-py.

Works against plain Redis 6 and 7 (no modules) and Redis Cluster.

Key layout
----------
``P`` is ``redis_options.key_prefix`` (default ``agui:state:``), ``E`` the
unpadded base64url of the state id's UTF-8 bytes. Encoding keeps ``{``,
``}``, ``*``, ``?`` and ``[`` of raw ids out of hash tags and ``SCAN``
patterns; ``{E}`` is the hash tag, so all keys of one state live in one
cluster slot::

    P + "index"          sorted set, all scores 0, members = raw state ids
                         (list_states pages it with ZRANGEBYLEX, never KEYS)
    P + "s:{E}:meta"     hash: head (version number), cpv (checkpoint version),
                         cp (checkpoint JSON), origin (JSON of the state at
                         version 0, written by a set_state at head 0 in the
                         same script; absent: {}); exists <=> the state exists
    P + "s:{E}:v"        sorted set: score = version number, member = version JSON
    P + "s:{E}:vid"      sorted set: score = version number, member = version id
    P + "s:{E}:snap"     hash: snapshot id -> snapshot JSON
    P + "s:{E}:tok"      sorted set: tokens of the last 32 version-less write
                         batches (to recognise a retried write that had landed)

Writes
------
A write is one Lua script per hash slot (EVALSHA, falling back to EVAL on
NOSCRIPT through redis-py's ``register_script``). The script checks the
stored heads server-side (the rules of ``HeadTracker``) and only then writes
everything, so two processes never both win and no half-written version is
ever visible. An update appends one version (O(delta)); the checkpoint is
rewritten only when the version carries one. With ``ttl_seconds`` every key
of a touched state gets ``PEXPIRE`` in the same script, so a state expires
as a whole, ``ttl_seconds`` after its last write.

On a single node a whole batch, over any number of states, is one script,
including the index update: all or none.

On Redis Cluster a script can only touch one slot, so:

* A batch is split per slot (usually per state; the write-behind queue
  batches versions of one state, which stays atomic). Before anything is
  written, all heads are read and checked, so an ordinary conflict writes
  nothing. But a concurrent writer slipping in between, or this process
  dying half-way, can leave earlier slots committed and later ones not; a
  ConflictError then names the states already committed. **Batches spanning
  hash slots are not atomic on a cluster.**
* The index key lives in its own slot. It is updated (ZADD, idempotent)
  right after a script creates a state; a crash in between leaves the state
  readable but missing from ``list_states`` until :meth:`RedisBackend.repair_index`
  (SCAN over every primary) adds it back. A failed index step never turns
  the committed write into an error: it is logged and counted in
  ``stats()["index_update_failures"]``. After ``delete_state`` the entry is
  removed in a second step too; ``list_states`` skips entries whose state is
  gone.

Reads
-----
``get_state`` reads the checkpoint and the versions after it in one script
(a consistent view, one round trip). ``list_states`` pages the index with
ZRANGEBYLEX (byte order of UTF-8 = code-point order) and checks in one
pipelined round trip that each listed state still exists: entries of expired
(TTL) states are skipped and dropped. Snapshots are read with HVALS and
sorted client-side (``list_snapshots`` returns them all anyway).

Retries
-------
Connection errors and timeouts are retried with exponential backoff
(``?max_retries=`` on the URL, or ``RedisOptions.max_retries`` when changed
from its default), then raised as BackendUnavailableError /
BackendTimeoutError with the URL redacted. A refused password is raised at
once. redis-py's own retries are off, because a blind re-send of a write
whose reply was lost would run it twice. Instead, before re-sending, the
backend checks whether the write landed: the batch's last version id stored
at its number, or, for batches without versions, the batch's token among the
state's last 32 in ``tok``. If so it reports success. An acknowledged write
is never lost or duplicated.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agui_state.backends.base import (
    Checkpoint,
    HeadTracker,
    StorageBackend,
    Write,
    check_consecutive,
    validate_state_id,
)
from agui_state.backends.redis.codec import (
    decode_checkpoint,
    decode_snapshot,
    decode_versions,
    dumps,
    loads,
    parse_head,
    write_args,
)
from agui_state.backends.redis.conn import Connector, pool_figures, server_figures
from agui_state.backends.redis.index import StateIndex
from agui_state.backends.redis.keys import KeyLayout, id_bytes
from agui_state.backends.redis.scripts import (
    DELETE_BEFORE,
    DELETE_STATE,
    HISTORY,
    READ_STATE,
    REPLACE_VERSION,
    STORE_CHECKPOINT,
    VERSION_BY_ID,
    WRITE_BATCH,
)
from agui_state.backends.summary import StateSummary, document_bytes
from agui_state.config import StorageConfig
from agui_state.errors import (
    ConflictError,
    CorruptDataError,
    NotFoundError,
    StorageError,
)
from agui_state.models import State, StateSnapshot, StateVersion, replay

__all__ = ["RedisBackend"]

_PRUNE_CHUNK = 1000
_BACKEND = "redis"
_log = logging.getLogger("agui_state.backends.redis")


@dataclass
class _Group:
    """Writes of one hash slot: one atomic script call."""

    states: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)


class RedisBackend(StorageBackend):
    """A backend on Redis or Redis Cluster (see the module docstring for the layout).

    Args:
        config: A ``redis`` configuration, e.g. from
            ``StorageConfig.from_url("redis://:pw@host:6379/0?key_prefix=app:")``.

    Raises:
        BackendUnavailableError: The server cannot be reached or refused the password.
    """

    backend_type = "redis"

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config)
        ro = config.redis_options
        self.keys = KeyLayout(ro.key_prefix)
        self._ttl_ms = (ro.ttl_seconds or 0) * 1000
        self._conn = Connector(config)
        self._cluster = self._conn.cluster
        self._index = StateIndex(self._conn, self.keys)
        self._index_failures = 0
        client = self._conn.client
        self._s_write = client.register_script(WRITE_BATCH)
        self._s_read_state = client.register_script(READ_STATE)
        self._s_history = client.register_script(HISTORY)
        self._s_version_by_id = client.register_script(VERSION_BY_ID)
        self._s_delete = client.register_script(DELETE_STATE)
        self._s_replace = client.register_script(REPLACE_VERSION)
        self._s_checkpoint = client.register_script(STORE_CHECKPOINT)
        self._s_delete_before = client.register_script(DELETE_BEFORE)

    def _check(self) -> Any:
        if self._closed:
            raise StorageError("backend is closed", backend=self.backend_type)
        return self._conn.client

    # ------------------------------------------------------------------ writes
    def write_batch(self, writes: Sequence[Write]) -> None:
        self._check()
        writes = list(writes)
        if not writes:
            return
        groups = self._group(writes)
        if len(groups) > 1:
            # Cluster, several slots: check everything first so that an
            # ordinary conflict writes nothing at all.
            heads = self._read_heads([sid for g in groups for sid in g.states])
            tracker = HeadTracker()
            for write in writes:
                tracker.check(write, heads[write.state_id])
        committed: list[str] = []
        for group in groups:
            try:
                self._commit_group(group)
            except (ConflictError, NotFoundError) as exc:
                if not committed:
                    raise
                raise ConflictError(
                    exc.state_id,
                    getattr(exc, "expected", None),
                    getattr(exc, "actual", None),
                    f"{exc}; Redis Cluster cannot write states in different hash slots "
                    f"atomically and states {committed!r} were already committed",
                ) from exc
            committed.extend(group.states)

    def _group(self, writes: list[Write]) -> list[_Group]:
        groups: dict[int, _Group] = {}
        for write in writes:
            slot = self.keys.slot(write.state_id) if self._cluster else 0
            group = groups.get(slot)
            if group is None:  # not setdefault: that would build a _Group per write
                group = groups[slot] = _Group()
            if write.state_id not in group.states:
                group.states.append(write.state_id)
            group.writes.append(write)
        return list(groups.values())

    def _read_heads(self, state_ids: list[str]) -> dict[str, int | None]:
        client = self._check()

        def run() -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for sid in state_ids:
                pipe.hget(self.keys.state(sid).meta, "head")
            return list(pipe.execute())

        raw = self._conn.call("read heads", run)
        return {
            sid: parse_head(r, self.keys.state(sid).meta)
            for sid, r in zip(state_ids, raw, strict=True)
        }

    def _commit_group(self, group: _Group) -> None:
        client = self._check()
        index = not self._cluster
        position = {sid: i + 1 for i, sid in enumerate(group.states)}
        keys: list[str] = [self.keys.index] if index else []
        for sid in group.states:
            keys.extend(self.keys.state(sid).all())
        versions = [w.version for w in group.writes if w.version is not None]
        token = "" if versions else uuid.uuid4().hex
        args: list[Any] = [
            len(group.states),
            "1" if index else "0",
            self._ttl_ms,
            token,
        ]
        args.extend(id_bytes(sid) if index else b"" for sid in group.states)
        for write in group.writes:
            args.extend(write_args(write, position[write.state_id]))
        op = f"write_batch of {len(group.writes)} write(s) to {group.states[0]!r}" + (
            f" and {len(group.states) - 1} more state(s)" if len(group.states) > 1 else ""
        )

        def landed() -> list[Any] | None:
            if versions:
                last = versions[-1]
                score = client.zscore(self.keys.state(last.state_id).version_ids, id_bytes(last.id))
                return [b"ok"] if score is not None and int(score) == last.number else None
            score = client.zscore(self.keys.state(group.states[0]).tokens, token)
            return [b"ok"] if score is not None else None

        result = self._conn.write(op, lambda: self._s_write(keys=keys, args=args), landed)
        status = result[0]
        if status == b"conflict":
            stored = {
                sid: (int(h) if h != b"" else None)
                for sid, h in zip(group.states, result[2:], strict=True)
            }
            tracker = HeadTracker()
            for write in group.writes:
                tracker.check(write, stored[write.state_id])
            raise StorageError(f"{op}: the server reported a conflict HeadTracker does not see")
        if status == b"corrupt":
            location = result[1].decode("utf-8", "surrogatepass")
            raise CorruptDataError(location, result[2].decode(), backend=_BACKEND)
        if not index:
            # Known outcome: only states this call created; unknown (landed on
            # a retry): all of them, ZADD is idempotent.
            flags = result[1:]
            new = [sid for i, sid in enumerate(group.states) if not flags or flags[i] == b"1"]
            if new:
                self._index_step(
                    lambda: client.zadd(self.keys.index, {id_bytes(s): 0 for s in new})
                )

    def _index_step(self, fn: Callable[[], Any]) -> None:
        """The cluster's separate index update, after the state's write committed.

        It must not turn a committed write into an error ("nothing was
        written" would be a lie), so a failure is logged and counted;
        ``list_states`` skips stale entries and :meth:`repair_index` adds
        missing ones.
        """
        try:
            self._conn.call("index update", fn)
        except StorageError as exc:
            self._index_failures += 1
            _log.error("redis: state index not updated (%s); run repair_index()", exc)

    def delete_state(self, state_id: str) -> None:
        client = self._check()
        validate_state_id(state_id)
        sk = self.keys.state(state_id)
        index = not self._cluster
        keys = ([self.keys.index] if index else []) + sk.all()
        args = ["1" if index else "0", id_bytes(state_id)]
        done = self._conn.call(
            f"delete_state {state_id!r}", lambda: self._s_delete(keys=keys, args=args)
        )
        if not index:
            self._index_step(lambda: client.zrem(self.keys.index, id_bytes(state_id)))
        if not done:
            raise NotFoundError("state", state_id)

    def replace_version(self, state_id: str, version: StateVersion) -> None:
        self._check()
        body = write_args(Write.of_version(state_id, version), 0)[4]
        args = [version.number, id_bytes(version.id), body, self._ttl_ms]
        keys = self.keys.state(state_id).all()
        self._conn.call(f"prune {state_id!r}", lambda: self._s_replace(keys=keys, args=args))

    def store_checkpoint(self, state_id: str, checkpoint: Checkpoint) -> None:
        self._check()
        args = [checkpoint.version, dumps(checkpoint.state, "checkpoint"), self._ttl_ms]
        keys = self.keys.state(state_id).all()
        self._conn.call(f"prune {state_id!r}", lambda: self._s_checkpoint(keys=keys, args=args))

    def delete_versions_before(self, state_id: str, number: int) -> int:
        client = self._check()
        sk = self.keys.state(state_id)
        op = f"prune {state_id!r}"
        total = int(self._conn.call(op, lambda: client.zcount(sk.versions, "-inf", f"({number}")))
        # Chunks keep each script short: Redis serves nobody else while one runs.
        keys = [sk.versions, sk.version_ids]
        while self._conn.call(
            op, lambda: self._s_delete_before(keys=keys, args=[number, _PRUNE_CHUNK])
        ):
            pass
        return total

    # ------------------------------------------------------------------- reads
    def read_head(self, state_id: str) -> int | None:
        client = self._check()
        meta = self.keys.state(state_id).meta
        raw = self._conn.call(f"read {state_id!r}", lambda: client.hget(meta, "head"))
        return parse_head(raw, meta)

    def read_checkpoint(self, state_id: str) -> Checkpoint | None:
        client = self._check()
        meta = self.keys.state(state_id).meta
        cpv, cp = self._conn.call(f"read {state_id!r}", lambda: client.hmget(meta, ["cpv", "cp"]))
        return None if cpv is None else decode_checkpoint(cpv, cp, meta)

    def read_origin(self, state_id: str) -> State:
        client = self._check()
        meta = self.keys.state(state_id).meta
        raw = self._conn.call(f"read {state_id!r}", lambda: client.hget(meta, "origin"))
        if raw is None:
            return {}
        origin = loads(raw, meta)
        if not isinstance(origin, dict):
            raise CorruptDataError(meta, "origin is not a JSON object", backend=_BACKEND)
        return origin

    def get_state(self, state_id: str) -> State:
        """Return the current state; checkpoint and tail come from one atomic read."""
        self._check()
        sk = self.keys.state(validate_state_id(state_id))
        found = self._conn.call(
            f"get_state {state_id!r}", lambda: self._s_read_state(keys=[sk.meta, sk.versions])
        )
        if found is None:
            raise NotFoundError("state", state_id)
        cp = decode_checkpoint(found[0], found[1], sk.meta)
        tail = decode_versions(found[2:], sk.versions)
        check_consecutive(state_id, cp.version, tail)
        return replay(cp.state, tail, state_id)

    def get_versions(
        self, state_id: str, after: int = 0, limit: int | None = None
    ) -> list[StateVersion]:
        client = self._check()
        sk = self.keys.state(validate_state_id(state_id))
        if limit is not None and limit <= 0:
            return []
        extra: dict[str, Any] = {} if limit is None else {"start": 0, "num": limit}
        raws = self._conn.call(
            f"get_versions {state_id!r}",
            lambda: client.zrangebyscore(sk.versions, f"({after}", "+inf", **extra),
        )
        return decode_versions(raws, sk.versions)

    def get_version_history(
        self, state_id: str, limit: int = 50, before: int | None = None
    ) -> list[StateVersion]:
        self._check()
        sk = self.keys.state(validate_state_id(state_id))
        top = "+inf" if before is None else f"({before}"
        raws = self._conn.call(
            f"get_version_history {state_id!r}",
            lambda: self._s_history(keys=[sk.meta, sk.versions], args=[top, max(limit, 0)]),
        )
        if raws is None:
            raise NotFoundError("state", state_id)
        return decode_versions(raws, sk.versions)

    def read_version(
        self, state_id: str, number: int | None, version_id: str | None
    ) -> StateVersion | None:
        client = self._check()
        sk = self.keys.state(state_id)
        op = f"get_version {state_id!r}"
        if number is not None:
            raws = self._conn.call(op, lambda: client.zrangebyscore(sk.versions, number, number))
            raw = raws[0] if raws else None
        else:
            args = [id_bytes(version_id or "")]
            raw = self._conn.call(
                op, lambda: self._s_version_by_id(keys=[sk.versions, sk.version_ids], args=args)
            )
        return decode_versions([raw], sk.versions)[0] if raw is not None else None

    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        client = self._check()
        sk = self.keys.state(validate_state_id(state_id))
        raw = self._conn.call(
            f"get_snapshot {state_id!r}", lambda: client.hget(sk.snapshots, id_bytes(snapshot_id))
        )
        if raw is None:
            raise NotFoundError("snapshot", state_id, snapshot_id)
        return decode_snapshot(raw, sk.snapshots)

    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        client = self._check()
        sk = self.keys.state(validate_state_id(state_id))
        raws = self._conn.call(f"list_snapshots {state_id!r}", lambda: client.hvals(sk.snapshots))
        snaps = [decode_snapshot(raw, sk.snapshots) for raw in raws]
        return sorted(snaps, key=lambda s: (s.version, s.timestamp, s.id))

    # ---------------------------------------------------------------- listing
    def summarize_states(self, state_ids: Sequence[str]) -> list[StateSummary]:
        """Summarize a page of states in two pipelined round trips.

        First the meta hashes, oldest versions and snapshot counts; then the
        tails after each checkpoint and the head versions. Each state's
        checkpoint and head come from one HMGET, so its document is
        consistent even if it is written to in between.
        """
        client = self._check()
        ids = [validate_state_id(sid) for sid in state_ids]
        keys = [self.keys.state(sid) for sid in ids]
        op = f"summarize_states({len(ids)} states)"

        def first_pass() -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for sk in keys:
                pipe.hmget(sk.meta, ["head", "cpv", "cp"])
                pipe.zrange(sk.versions, 0, 0, withscores=True)
                pipe.hlen(sk.snapshots)
            return list(pipe.execute())

        found = self._conn.call(op, first_pass)
        live = []
        for i, sk in enumerate(keys):
            (head, cpv, cp), oldest, snaps = found[3 * i : 3 * i + 3]
            if head is not None and cpv is not None:
                live.append((sk, parse_head(head, sk.meta) or 0, cpv, cp, oldest, int(snaps)))

        def second_pass() -> list[Any]:
            # The tail after the checkpoint; the head version only when the
            # tail is empty (else it is the tail's last one).
            pipe = client.pipeline(transaction=False)
            for sk, head, cpv, _, _, _ in live:
                pipe.zrangebyscore(sk.versions, f"({int(cpv)}", head)
                # An empty range keeps two replies per state (and a key, for Cluster).
                low, high = (head, head) if head <= int(cpv) else (1, 0)
                pipe.zrangebyscore(sk.versions, low, high)
            return list(pipe.execute())

        more = self._conn.call(op, second_pass) if live else []
        out: list[StateSummary] = []
        for i, (sk, head, cpv, cp, oldest, snaps) in enumerate(live):
            cp_state = decode_checkpoint(cpv, cp, sk.meta)
            tail = decode_versions(more[2 * i], sk.versions)
            check_consecutive(sk.state_id, cp_state.version, tail)
            doc = replay(cp_state.state, tail, sk.state_id)
            last = tail[-1:] or decode_versions(more[2 * i + 1], sk.versions)
            first: list[StateVersion] = []
            if oldest:
                raw, score = oldest[0]
                in_tail = tail and int(score) == tail[0].number
                first = tail[:1] if in_tail else decode_versions([raw], sk.versions)
            out.append(
                StateSummary(
                    sk.state_id,
                    head,
                    head - first[0].number + 1 if first else 0,
                    first[0].timestamp if first else None,
                    last[0].timestamp if first and last else None,
                    snaps,
                    document_bytes(doc),
                )
            )
        return out

    def list_states(
        self, prefix: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[str]:
        """Return state ids from the index (ZRANGEBYLEX, never KEYS), skipping stale entries."""
        self._check()
        return self._index.page(prefix, limit, after)

    def repair_index(self) -> dict[str, int]:
        """Rebuild the state index from the keys actually stored.

        Adds states missing from the index (a cluster write interrupted
        between a state's script and its index update) and removes entries
        of states that no longer exist (expired, or a cluster delete
        interrupted). Uses SCAN on every primary, so it walks the whole
        keyspace: run it after a crash or from time to time, not per request.

        Returns:
            ``{"scanned": meta keys seen, "added": entries added, "removed": entries removed}``.
        """
        self._check()
        return self._index.repair()

    # ------------------------------------------------------------ housekeeping
    def ping(self) -> None:
        client = self._check()
        self._conn.call("ping", client.ping)

    def stats(self) -> dict[str, Any]:
        """Return server and pool figures (never the password).

        ``states_indexed`` counts index entries (it may include states that
        expired since the last listing). ``prefix_memory_sample`` is
        ``MEMORY USAGE`` summed over at most 64 keys of this prefix found by
        a few SCAN calls: a cheap indication, not a total (``complete`` says
        whether every key of the prefix was measured).
        ``index_update_failures`` counts cluster index steps that failed
        after their write committed (see :meth:`repair_index`).
        """
        ro = self.config.redis_options
        out: dict[str, Any] = {
            "backend_type": self.backend_type,
            "url": self.config.redacted_url,
            "cluster": self._cluster,
            "key_prefix": ro.key_prefix,
            "ttl_seconds": ro.ttl_seconds,
            "closed": self._closed,
            "index_update_failures": self._index_failures,
            "pool": {"max_per_node": ro.pool_size, **pool_figures(self._conn.pools())},
        }
        if self._closed:
            return out
        client = self._conn.client

        def gather() -> dict[str, Any]:
            figures = server_figures(self._conn.node_clients(), client, self.keys.prefix_pattern())
            figures["states_indexed"] = int(client.zcard(self.keys.index))
            return figures

        out.update(self._conn.call("stats", gather))
        return out

    def close(self) -> None:
        """Disconnect the pool. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._conn.close()
        except Exception as exc:  # pragma: no cover - closing is best effort
            _log.warning("redis: error while closing %s: %s", self.config.redacted_url, exc)
