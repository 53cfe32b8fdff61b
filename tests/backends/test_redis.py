"""Redis-specific behaviour of RedisBackend against the real server.

The shared conformance suite (``test_conformance.py -k redis``) checks the
storage contract; this file checks what only Redis has: the key layout and
hash slots, the index behind ``list_states``, TTLs, Lua atomicity and the
de-duplication of writes whose reply was lost. Each test gets its own key
prefix under the session prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import importlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from agui_state.backends import Write, create_backend
from agui_state.errors import (
    BackendUnavailableError,
    ConflictError,
    CorruptDataError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from agui_state.testing.helpers import (
    expected_state,
    make_snapshot,
    make_version,
    numbers,
    standard_chain,
)
from tests.conftest import IN_CI

# Skip without redis-py locally; under CI=true a missing driver must fail, not skip.
redis = importlib.import_module("redis") if IN_CI else pytest.importorskip("redis")
from redis.crc import key_slot  # noqa: E402

from agui_state.backends.redis import RedisBackend  # noqa: E402
from agui_state.backends.redis.keys import encode_id  # noqa: E402

pytestmark = pytest.mark.redis

Make = Callable[..., RedisBackend]


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    """A plain redis-py client on the test database (bytes replies)."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_prefix: str, raw: Any) -> Iterator[str]:
    """A key prefix private to this test; its keys are deleted afterwards."""
    value = f"{redis_prefix}{uuid.uuid4().hex[:8]}:"
    yield value
    keys = list(raw.scan_iter(match=_glob_escape(value) + "*", count=1000))
    if keys:
        raw.delete(*keys)


@pytest.fixture
def make(redis_url: str, prefix: str) -> Iterator[Make]:
    """Open RedisBackends on the test prefix (extra URL params allowed); closes them."""
    opened: list[RedisBackend] = []

    def open_backend(key_prefix: str | None = None, **params: Any) -> RedisBackend:
        query = urlencode({"key_prefix": key_prefix or prefix, **params})
        backend = create_backend(f"{redis_url}?{query}")
        assert isinstance(backend, RedisBackend)
        opened.append(backend)
        return backend

    yield open_backend
    for backend in opened:
        backend.close()


def _keys(raw: Any, prefix: str) -> list[bytes]:
    return sorted(raw.scan_iter(match=_glob_escape(prefix) + "*", count=1000))


# ------------------------------------------------------------------ layout
def test_all_keys_of_a_state_share_one_slot_and_encode_the_id(
    make: Make, raw: Any, prefix: str
) -> None:
    backend = make()
    sid = "th{read}*?[1]"
    chain = standard_chain(sid, 1, 3, checkpoint_every=2)
    for version in chain:
        backend.save_version(sid, version)
    backend.save_snapshot(sid, make_snapshot(sid, 2, expected_state(2)))
    backend.set_state(sid, expected_state(3))  # a version-less batch: writes a token

    keys = _keys(raw, prefix)
    index = f"{prefix}index".encode()
    assert index in keys
    state_keys = [k for k in keys if k != index]
    tag = f"{{{encode_id(sid)}}}"
    assert sorted(state_keys) == sorted(
        f"{prefix}s:{tag}:{suffix}".encode() for suffix in ("meta", "v", "vid", "snap", "tok")
    )
    assert {key_slot(k) for k in state_keys} == {backend.keys.slot(sid)}
    types = {k.decode().rsplit(":", 1)[1]: raw.type(k) for k in state_keys}
    assert types == {"meta": b"hash", "v": b"zset", "vid": b"zset", "snap": b"hash", "tok": b"zset"}
    # The raw id, braces and globs included, is only ever a value, never part of a key name.
    assert all(b"{read}" not in k for k in keys)
    assert raw.zrange(index, 0, -1, withscores=True) == [(sid.encode(), 0.0)]
    meta = raw.hgetall(f"{prefix}s:{tag}:meta")
    assert meta[b"head"] == b"3" and meta[b"cpv"] == b"3"
    assert raw.zcard(f"{prefix}s:{tag}:v") == raw.zcard(f"{prefix}s:{tag}:vid") == 3


def test_origin_is_a_meta_field_written_only_at_head_zero(make: Make, raw: Any) -> None:
    backend = make()
    backend.save_version("v", make_version("v", 1))
    assert raw.hget(backend.keys.state("v").meta, "origin") is None  # absent: {}
    meta = backend.keys.state("o").meta
    backend.set_state("o", {"a": 1})
    backend.set_state("o", {"b": 2})  # still head 0: replaces it
    assert raw.hget(meta, "origin") == b'{"b":2}'
    backend.save_version("o", make_version("o", 1, checkpoint={"b": 2}))
    backend.set_state("o", {"repaired": True})  # head 1: not the origin
    assert raw.hget(meta, "origin") == b'{"b":2}'
    assert backend.state_at("o", 0) == {"b": 2}
    raw.hset(meta, "origin", b"[1]")
    with pytest.raises(CorruptDataError, match="origin"):
        backend.state_at("o", 0)


HOSTILE_IDS = [
    "*",
    "?",
    "[",
    "]",
    "[a-z]",
    "{",
    "}",
    "{}",
    "}{",
    "a{b}",
    "{a}b",
    "\\",
    "a*",
    "a?",
    "a[b]",
    "a\\*",
    "*a",
    " ",
    "line\nbreak",
    "tab\t",
    "ü",
    "日本",
    "🙂",
    "x" * 1024,
    "index",
    "s:{YQ}:meta",
    "agui:state:s:{x}:meta",
    "\x7f",
    "\xff",
    "a",
]


def test_hostile_ids_round_trip_and_list_exactly(make: Make) -> None:
    backend = make()
    for sid in HOSTILE_IDS:
        delta = [{"op": "add", "path": "/id", "value": sid}]
        backend.save_version(sid, make_version(sid, 1, delta, version_id=f"v {sid}"))
        backend.save_snapshot(sid, make_snapshot(sid, 1, {"id": sid}, snapshot_id=f"snap {sid}"))
    ordered = sorted(HOSTILE_IDS)
    assert backend.list_states(limit=1000) == ordered
    paged: list[str] = []
    after: str | None = None
    while page := backend.list_states(limit=3, after=after):
        paged.extend(page)
        after = page[-1]
    assert paged == ordered
    for prefix in ("a", "a*", "a[", "{", "}", "\\", "*", "x" * 1000, "🙂", "zzz"):
        expected = [s for s in ordered if s.startswith(prefix)]
        assert backend.list_states(prefix=prefix, limit=1000) == expected, prefix
        assert (
            backend.list_states(prefix=prefix, after=expected[0] if expected else None)
            == (expected[1:])
        )
    for sid in HOSTILE_IDS:
        assert backend.get_state(sid) == {"id": sid}
        assert backend.get_snapshot(sid, f"snap {sid}").state == {"id": sid}
        assert backend.get_version(sid, 1).delta[0]["value"] == sid
        assert backend.get_version(sid, f"v {sid}").number == 1
    for sid in HOSTILE_IDS:
        backend.delete_state(sid)
    assert backend.list_states() == []


# ------------------------------------------------------------------- index
def test_list_states_reads_the_index_and_repair_restores_it(
    make: Make, raw: Any, prefix: str
) -> None:
    backend = make()
    for sid in ("a", "b", "c"):
        backend.set_state(sid, {"id": sid})
    index = f"{prefix}index"
    raw.zrem(index, "b")  # what an interrupted cluster write leaves behind
    assert backend.list_states() == ["a", "c"]
    assert backend.exists("b")
    raw.zadd(index, {"ghost": 0})  # what an expired or half-deleted state leaves behind
    assert backend.list_states() == ["a", "c"]
    assert raw.zscore(index, "ghost") is None  # dropped lazily by the listing
    raw.zadd(index, {"ghost2": 0})
    assert backend.repair_index() == {"scanned": 3, "added": 1, "removed": 1}
    assert backend.list_states() == ["a", "b", "c"]
    assert backend.repair_index() == {"scanned": 3, "added": 0, "removed": 0}


def test_list_states_fills_pages_past_stale_entries(make: Make, raw: Any, prefix: str) -> None:
    backend = make()
    for sid in ("a1", "a5", "a9"):
        backend.set_state(sid, {})
    raw.zadd(f"{prefix}index", {f"a{i}": 0 for i in (2, 3, 4, 6, 7, 8)})
    assert backend.list_states(prefix="a", limit=2) == ["a1", "a5"]
    assert backend.list_states(prefix="a", limit=2, after="a1") == ["a5", "a9"]


def test_repair_index_escapes_glob_characters_of_the_prefix(make: Make, prefix: str) -> None:
    globby = make(key_prefix=f"{prefix}t[12]*:")
    sibling = make(key_prefix=f"{prefix}t1x:")  # matched by the prefix if it were unescaped
    globby.set_state("mine", {})
    sibling.set_state("theirs", {})
    assert globby.repair_index() == {"scanned": 1, "added": 0, "removed": 0}
    assert globby.list_states() == ["mine"]
    assert sibling.list_states() == ["theirs"]


# --------------------------------------------------------------------- TTL
def _pttls(raw: Any, backend: RedisBackend, sid: str) -> dict[str, int]:
    keys = backend.keys.state(sid)
    return {
        name: int(raw.pttl(getattr(keys, name)))
        for name in ("meta", "versions", "version_ids", "snapshots", "tokens")
        if raw.exists(getattr(keys, name))
    }


def test_ttl_is_set_on_every_key_and_refreshed_by_each_write(make: Make, raw: Any) -> None:
    backend = make(ttl_seconds="600")
    sid = "expiring"
    backend.save_version(sid, make_version(sid, 1, [{"op": "add", "path": "/a", "value": 1}]))
    backend.save_snapshot(sid, make_snapshot(sid, 1, {"a": 1}))
    backend.set_state(sid, {"a": 1})
    ttls = _pttls(raw, backend, sid)
    assert set(ttls) == {"meta", "versions", "version_ids", "snapshots", "tokens"}
    assert all(0 < t <= 600_000 for t in ttls.values()), ttls
    keys = backend.keys.state(sid)
    for key in keys.all():
        raw.pexpire(key, 5_000)
    backend.save_version(sid, make_version(sid, 2, [{"op": "replace", "path": "/a", "value": 2}]))
    assert all(t > 5_000 for t in _pttls(raw, backend, sid).values())
    for key in keys.all():
        raw.pexpire(key, 5_000)
    backend.save_snapshot(sid, make_snapshot(sid, 2, {"a": 2}))  # a snapshot is a write too
    assert all(t > 5_000 for t in _pttls(raw, backend, sid).values())


def test_without_ttl_keys_do_not_expire(make: Make, raw: Any) -> None:
    backend = make()
    backend.save_version("s", make_version("s", 1))
    assert set(_pttls(raw, backend, "s").values()) == {-1}


def test_an_expired_state_is_gone_everywhere(make: Make, raw: Any) -> None:
    backend = make(ttl_seconds="600")
    backend.set_state("keep", {})
    backend.save_version("gone", make_version("gone", 1))
    for key in backend.keys.state("gone").all():
        raw.pexpire(key, 1)
    deadline = time.monotonic() + 5
    while raw.exists(*backend.keys.state("gone").all()) and time.monotonic() < deadline:
        time.sleep(0.005)  # polling for the expiry, not asserting on time
    assert not backend.exists("gone")
    with pytest.raises(NotFoundError):
        backend.get_state("gone")
    assert backend.list_states() == ["keep"]


# ------------------------------------------------------------------- prune
def test_prune_deletes_versions_and_their_ids_in_chunks(
    make: Make, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agui_state.backends.redis.backend as redis_module

    monkeypatch.setattr(redis_module, "_PRUNE_CHUNK", 3)
    backend = make()
    sid = "pruned"
    chain = standard_chain(sid, 1, 20, checkpoint_every=8)
    for version in chain:
        backend.save_version(sid, version)
    assert backend.prune_history(sid, 5) == 15
    keys = backend.keys.state(sid)
    assert raw.zcard(keys.versions) == raw.zcard(keys.version_ids) == 5
    assert numbers(backend.get_versions(sid)) == list(range(16, 21))
    assert backend.get_version(sid, 16).checkpoint == expected_state(16)
    with pytest.raises(NotFoundError):
        backend.get_version(sid, chain[3].id)
    assert backend.get_state(sid) == expected_state(20)
    assert backend.state_at(sid, 17) == expected_state(17)
    assert backend.prune_history(sid, 0) == 5
    assert raw.zcard(keys.version_ids) == 0
    assert backend.get_state(sid) == expected_state(20)


# ----------------------------------------------------------- Lua atomicity
def test_script_error_leaves_no_partial_version(make: Make, raw: Any) -> None:
    backend = make()
    sid = "atomic"
    backend.save_version(sid, make_version(sid, 1, [{"op": "add", "path": "/a", "value": 1}]))
    keys = backend.keys.state(sid)
    raw.set(keys.snapshots, "not a hash")  # the snapshot write would fail half-way
    version = make_version(sid, 2, [{"op": "replace", "path": "/a", "value": 2}])
    with pytest.raises(CorruptDataError, match="snap"):
        backend.write_batch(
            [Write.of_version(sid, version), Write.of_snapshot(sid, make_snapshot(sid, 2))]
        )
    assert backend.head_version(sid) == 1
    assert raw.zcard(keys.versions) == raw.zcard(keys.version_ids) == 1
    assert backend.get_state(sid) == {"a": 1}
    raw.delete(keys.snapshots)
    backend.save_version(sid, version)
    assert backend.get_state(sid) == {"a": 2}


def test_multi_state_batch_is_one_atomic_script_on_a_single_node(make: Make, raw: Any) -> None:
    backend = make()
    backend.save_version("b", make_version("b", 1))
    batch = [
        Write.of_version("a", make_version("a", 1)),
        Write.of_snapshot("a", make_snapshot("a", 1)),
        Write.of_version("b", make_version("b", 1)),  # conflicts: b is at 1 already
    ]
    with pytest.raises(ConflictError) as info:
        backend.write_batch(batch)
    assert info.value.state_id == "b"
    assert not backend.exists("a")
    assert not raw.exists(*backend.keys.state("a").all())
    assert backend.list_states() == ["b"]


def test_non_json_value_is_rejected_before_anything_is_sent(make: Make) -> None:
    backend = make()
    with pytest.raises(ValidationError, match="state"):
        backend.set_state("nan", {"x": float("nan")})
    assert not backend.exists("nan")


def test_corrupt_stored_data_is_reported_with_its_key(make: Make, raw: Any) -> None:
    backend = make()
    backend.save_version("c", make_version("c", 1))
    keys = backend.keys.state("c")
    raw.zadd(keys.versions, {b"{not json": 2})
    raw.hset(keys.meta, "head", 2)
    with pytest.raises(CorruptDataError, match=re.escape(keys.versions)):
        backend.get_state("c")
    raw.hset(keys.meta, "head", "two")
    with pytest.raises(CorruptDataError, match="head"):
        backend.head_version("c")
    with pytest.raises(CorruptDataError, match="not a number"):
        backend.save_version("c", make_version("c", 3))


# ------------------------------------------------- lost replies and retries
def _flaky(
    real: Any, *, run_first: bool, failures: int = 1, meanwhile: Callable[[], Any] | None = None
) -> Any:
    """A script stand-in whose first call(s) fail on the connection.

    ``run_first``: the failing call really ran on the server and only the
    reply was lost (unknown outcome); otherwise it never reached the server.
    ``meanwhile`` runs after the lost call, like another writer would.
    """
    calls = {"n": 0}

    def call(keys: Any = None, args: Any = None) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            if run_first:
                real(keys=keys, args=args)
            if meanwhile is not None and calls["n"] == 1:
                meanwhile()
            raise redis.ConnectionError("connection reset (injected)")
        return real(keys=keys, args=args)

    call.calls = calls  # type: ignore[attr-defined]
    return call


@pytest.mark.parametrize("run_first", [True, False], ids=["reply-lost", "never-sent"])
def test_retried_version_write_is_stored_exactly_once(
    make: Make, raw: Any, monkeypatch: pytest.MonkeyPatch, run_first: bool
) -> None:
    backend = make(max_retries="3")
    sid = "retry"
    backend.save_version(sid, make_version(sid, 1, [{"op": "add", "path": "/n", "value": 1}]))
    flaky = _flaky(backend._s_write, run_first=run_first)
    monkeypatch.setattr(backend, "_s_write", flaky)
    version = make_version(sid, 2, [{"op": "replace", "path": "/n", "value": 2}])
    backend.save_version(sid, version)  # no ConflictError from its own first attempt
    assert flaky.calls["n"] == (1 if run_first else 2)  # landed: not re-sent
    assert numbers(backend.get_versions(sid)) == [1, 2]
    assert backend.get_version(sid, version.id).number == 2
    assert raw.zcard(backend.keys.state(sid).version_ids) == 2
    # A genuine duplicate still conflicts: the landed check is only for lost replies.
    with pytest.raises(ConflictError):
        backend.save_version(sid, version)


def test_version_less_write_whose_reply_was_lost_is_recognised_by_its_token(
    make: Make, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make(max_retries="3")
    other = make()
    sid = "token"
    backend.set_state(sid, {"v": 0})

    def another_writer() -> None:
        other.save_version(sid, make_version(sid, 1, [{"op": "add", "path": "/w", "value": 1}]))

    flaky = _flaky(backend._s_write, run_first=True, meanwhile=another_writer)
    monkeypatch.setattr(backend, "_s_write", flaky)
    # The write landed, then another writer moved the head: a blind re-send
    # would report a conflict for a write that succeeded (or, without
    # expected_version, put the old state over the newer version).
    backend.set_state(sid, {"v": 1}, expected_version=0)
    assert flaky.calls["n"] == 1
    assert backend.get_state(sid) == {"v": 1, "w": 1}
    tokens = raw.zrange(backend.keys.state(sid).tokens, 0, -1)
    assert len(tokens) == 2  # one per version-less batch that landed


def test_version_less_write_never_sent_is_sent_again(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make(max_retries="3")
    backend.set_state("again", {"v": 0})
    flaky = _flaky(backend._s_write, run_first=False)
    monkeypatch.setattr(backend, "_s_write", flaky)
    backend.set_state("again", {"v": 1}, expected_version=0)
    assert flaky.calls["n"] == 2
    assert backend.get_state("again") == {"v": 1}


def test_tokens_are_capped(make: Make, raw: Any) -> None:
    from agui_state.backends.redis.scripts import TOKENS_KEPT

    backend = make()
    for i in range(TOKENS_KEPT + 5):
        backend.set_state("capped", {"i": i})
    assert raw.zcard(backend.keys.state("capped").tokens) == TOKENS_KEPT


def test_retries_exhausted_raise_unavailable_and_write_nothing(
    make: Make, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    backend = make(max_retries="2")
    flaky = _flaky(backend._s_write, run_first=False, failures=99)
    monkeypatch.setattr(backend, "_s_write", flaky)
    with pytest.raises(BackendUnavailableError, match=r"after 3 attempt\(s\)") as info:
        backend.save_version("x", make_version("x", 1))
    assert redis_url.split("?")[0] in str(info.value)
    assert flaky.calls["n"] == 3
    assert not backend.exists("x")


# ------------------------------------------------------------ housekeeping
def test_ping_stats_and_close(make: Make, raw: Any, prefix: str) -> None:
    backend = make(pool_size="4", min_idle_conns="2")
    backend.ping()
    for sid in ("s1", "s2"):
        backend.save_version(sid, make_version(sid, 1, [{"op": "add", "path": "/x", "value": 1}]))
    stats = backend.stats()
    assert stats["backend_type"] == "redis"
    assert stats["cluster"] is False and stats["nodes"] == 1
    assert stats["key_prefix"] == prefix
    assert stats["states_indexed"] == 2
    assert re.fullmatch(r"\d+\.\d+\.\d+", stats["server_version"])
    assert stats["used_memory"] > 0 and stats["connected_clients"] >= 1
    pool = stats["pool"]
    assert pool["max_per_node"] == 4
    assert pool["created"] >= 2  # min_idle_conns opened eagerly
    assert pool["created"] == pool["in_use"] + pool["available"]
    sample = stats["prefix_memory_sample"]
    ours = len(_keys(raw, prefix))  # index + 2 x (meta, v, vid)
    assert ours == 7
    assert 0 <= sample["keys"] <= ours
    assert (sample["bytes"] > 0) == (sample["keys"] > 0)
    if sample["complete"]:  # the scan saw the whole (shared) database
        assert sample["keys"] == ours
    backend.close()
    backend.close()
    assert backend.stats()["closed"] is True
    with pytest.raises(StorageError, match="closed"):
        backend.get_state("s1")


def test_get_state_reads_checkpoint_and_tail_atomically(make: Make) -> None:
    backend = make()
    sid = "tail"
    for version in standard_chain(sid, 1, 9, checkpoint_every=4):
        backend.save_version(sid, version)
    assert backend.get_state(sid) == expected_state(9)
    # The read script returns exactly the checkpoint plus the versions after it.
    found = backend._s_read_state(
        keys=[backend.keys.state(sid).meta, backend.keys.state(sid).versions]
    )
    assert found[0] == b"8" and len(found) == 2 + 1
