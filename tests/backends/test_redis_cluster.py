"""RedisBackend on a real three-node Redis Cluster (started by the test session).

The shared conformance suite runs on the cluster too (``-k redis_cluster``);
this file checks what is cluster-specific: hash slots, states spread over
nodes, the index living in its own slot, batches spanning slots, and writes
whose reply was lost.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from agui_state.backends import Write, create_backend
from agui_state.errors import ConflictError
from agui_state.testing.helpers import make_snapshot, make_version, numbers
from tests.conftest import IN_CI

# Skip without redis-py locally; under CI=true a missing driver must fail, not skip.
redis = importlib.import_module("redis") if IN_CI else pytest.importorskip("redis")
from agui_state.backends.redis import RedisBackend  # noqa: E402

pytestmark = pytest.mark.redis_cluster


@pytest.fixture
def prefix() -> str:
    return f"agui-test:{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def raw(redis_cluster_url: str) -> Iterator[Any]:
    """A plain cluster client (bytes replies)."""
    parts = urlsplit(redis_cluster_url)
    client = redis.RedisCluster(host=parts.hostname, port=parts.port)
    yield client
    client.close()


@pytest.fixture
def make(redis_cluster_url: str, prefix: str, raw: Any) -> Iterator[Any]:
    opened: list[RedisBackend] = []

    def open_backend(**params: Any) -> RedisBackend:
        query = urlencode({"key_prefix": prefix, **params})
        backend = create_backend(f"{redis_cluster_url}?{query}")
        assert isinstance(backend, RedisBackend)
        opened.append(backend)
        return backend

    yield open_backend
    for backend in opened:
        backend.close()
    for node in raw.get_primaries():
        client = raw.get_redis_connection(node)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for key in keys:  # one by one: keys of different slots cannot go in one DEL
            client.delete(key)


def _primaries(raw: Any) -> list[Any]:
    return [raw.get_redis_connection(node) for node in raw.get_primaries()]


def test_every_key_of_a_state_is_in_one_slot(make: Any, raw: Any) -> None:
    backend = make()
    sid = "{slot}*?["
    backend.save_version(sid, make_version(sid, 1, checkpoint={"a": 1}))
    backend.save_snapshot(sid, make_snapshot(sid, 1, {"a": 1}))
    backend.set_state(sid, {"a": 1})
    keys = backend.keys.state(sid).all()
    assert raw.exists(*keys) == 5  # one slot: a multi-key command is allowed
    node = _primaries(raw)[0]
    slots = {int(node.execute_command("CLUSTER", "KEYSLOT", key)) for key in keys}
    assert slots == {backend.keys.slot(sid)}
    index_slot = int(node.execute_command("CLUSTER", "KEYSLOT", backend.keys.index))
    assert index_slot == raw.keyslot(backend.keys.index)


def test_states_spread_over_slots_and_nodes_and_list_in_order(make: Any, raw: Any) -> None:
    backend = make()
    ids = [f"thread-{i:02d}" for i in range(40)] + ["{x}", "a*b", "a[b", "ü"]
    for sid in ids:
        delta = [{"op": "add", "path": "/id", "value": sid}]
        backend.save_version(sid, make_version(sid, 1, delta))
    assert len({backend.keys.slot(sid) for sid in ids}) > 30
    metas = {backend.keys.state(sid).meta.encode() for sid in ids}
    per_node = [
        len(metas.intersection(node.scan_iter(match=backend.keys.meta_pattern())))
        for node in _primaries(raw)
    ]
    assert sum(per_node) == len(ids)
    assert all(per_node), per_node  # every node holds some of the states
    ordered = sorted(ids)
    assert backend.list_states(limit=100) == ordered
    paged: list[str] = []
    after: str | None = None
    while page := backend.list_states(limit=7, after=after):
        paged.extend(page)
        after = page[-1]
    assert paged == ordered
    assert backend.list_states(prefix="a*") == ["a*b"]
    assert backend.list_states(prefix="thread-1", limit=3) == [f"thread-1{i}" for i in range(3)]
    for sid in ids:
        assert backend.get_state(sid) == {"id": sid}


def test_repair_index_scans_every_primary(make: Any, raw: Any) -> None:
    backend = make()
    ids = [f"lost-{i}" for i in range(20)]
    for sid in ids:
        backend.set_state(sid, {})
    # What crashes between a state's script and its index update leave behind.
    raw.zrem(backend.keys.index, *ids)
    assert backend.list_states() == []
    raw.zadd(backend.keys.index, {"deleted-but-indexed": 0})
    assert backend.repair_index() == {"scanned": 20, "added": 20, "removed": 1}
    assert backend.list_states() == sorted(ids)


def test_delete_removes_the_index_entry(make: Any, raw: Any) -> None:
    backend = make()
    backend.set_state("gone", {})
    backend.delete_state("gone")
    assert raw.zscore(backend.keys.index, "gone") is None
    assert raw.exists(*backend.keys.state("gone").all()) == 0


def test_batch_spanning_slots_reports_what_was_committed(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make()
    other = make()
    assert backend.keys.slot("a") != backend.keys.slot("b")
    backend.save_version("b", make_version("b", 1))
    real = backend._commit_group
    seen: list[list[str]] = []

    def interleaved(group: Any) -> None:
        seen.append(group.states)
        if group.states == ["b"]:
            other.save_version("b", make_version("b", 2))  # a concurrent writer slips in
        real(group)

    monkeypatch.setattr(backend, "_commit_group", interleaved)
    with pytest.raises(ConflictError, match=r"already committed") as info:
        backend.write_batch(
            [
                Write.of_version("a", make_version("a", 1)),
                Write.of_version("b", make_version("b", 2)),
            ]
        )
    assert seen == [["a"], ["b"]]
    assert info.value.state_id == "b" and "['a']" in str(info.value)
    assert backend.head_version("a") == 1  # committed before the conflict
    assert backend.head_version("b") == 2  # the other writer's version


def test_ordinary_conflict_in_a_multi_slot_batch_writes_nothing(make: Any) -> None:
    backend = make()
    backend.save_version("b", make_version("b", 1))
    with pytest.raises(ConflictError) as info:
        backend.write_batch(
            [
                Write.of_version("a", make_version("a", 1)),
                Write.of_version("b", make_version("b", 1)),
            ]
        )
    assert "committed" not in str(info.value)
    assert not backend.exists("a")


def _same_slot_pair(backend: RedisBackend) -> tuple[str, str]:
    seen: dict[int, str] = {}
    for i in range(100_000):
        sid = f"pair-{i}"
        slot = backend.keys.slot(sid)
        if slot in seen:
            return seen[slot], sid
        seen[slot] = sid
    raise AssertionError("no two ids share a slot")


def test_states_sharing_a_slot_are_written_by_one_atomic_script(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make()
    first, second = _same_slot_pair(backend)
    backend.save_version(second, make_version(second, 1))
    batch = [
        Write.of_version(first, make_version(first, 1)),
        Write.of_version(second, make_version(second, 1)),  # conflicts
    ]
    assert len(backend._group(batch)) == 1
    with pytest.raises(ConflictError):
        backend.write_batch(batch)
    assert not backend.exists(first)  # the script checked both before writing either
    with backend.begin_transaction() as tx:
        tx.save_version(first, make_version(first, 1))
        tx.save_version(second, make_version(second, 2))
    assert backend.head_version(first) == 1 and backend.head_version(second) == 2
    assert sorted(backend.list_states()) == sorted([first, second])


def test_lost_reply_on_cluster_is_stored_once_and_indexed(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make()
    real = backend._s_write
    calls = {"n": 0}

    def lost_reply(keys: Any = None, args: Any = None) -> Any:
        calls["n"] += 1
        result = real(keys=keys, args=args)
        if calls["n"] == 1:
            raise redis.ConnectionError("reply lost (injected)")
        return result

    monkeypatch.setattr(backend, "_s_write", lost_reply)
    backend.save_version("new", make_version("new", 1, [{"op": "add", "path": "/a", "value": 1}]))
    assert calls["n"] == 1
    assert numbers(backend.get_versions("new")) == [1]
    # The created flag was lost with the reply: the index is updated anyway.
    assert backend.list_states() == ["new"]


def test_scripts_reload_after_script_flush(make: Any, raw: Any) -> None:
    backend = make()
    backend.save_version("s", make_version("s", 1))
    for node in _primaries(raw):
        node.script_flush()
    backend.save_version("s", make_version("s", 2))  # NOSCRIPT -> load -> run
    assert backend.head_version("s") == 2


def test_stats_and_ping_on_cluster(make: Any) -> None:
    backend = make()
    backend.set_state("s", {})
    backend.ping()
    stats = backend.stats()
    assert stats["cluster"] is True and stats["nodes"] == 3
    assert stats["states_indexed"] == 1
    assert stats["used_memory"] > 0
    assert stats["pool"]["created"] >= 1
