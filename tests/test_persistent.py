"""PersistentStateStore in synchronous mode, on every backend kind.

Persistence is always checked through a *second* backend instance opened on
the same storage (for memory: the shared backend object), never through the
store that wrote.
"""

from __future__ import annotations

import logging

import pytest

from agui_state.backends import MemoryBackend
from agui_state.config import StorageConfig
from agui_state.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    StorageError,
    TransactionError,
)
from agui_state.persistent import PersistentStateStore
from agui_state.store import StoreOptions
from tests.test_persistent_support import (
    FailingBackend,
    Target,
    assert_gap_free,
    persistent_url,
    target,
)

__all__ = ["persistent_url", "target"]  # fixtures used by this module


def _assert_persisted(tgt: Target, store: PersistentStateStore) -> None:
    """The storage (seen through another instance) holds exactly what memory holds."""
    other = tgt.backend()
    assert other.head_version(store.state_id) == store.version
    assert other.get_state(store.state_id) == store.get_state()
    stored = other.get_version(store.state_id, store.version)
    assert stored.id == store.get_version(store.version).id


def test_every_write_path_is_persisted(target: Target) -> None:
    store = target.open("paths")
    store.set("/a", {"b": 1})
    _assert_persisted(target, store)
    store.delete("/a/b")
    _assert_persisted(target, store)
    store.apply_patch(
        [{"op": "add", "path": "/list", "value": [1]}, {"op": "add", "path": "/list/-", "value": 2}]
    )
    _assert_persisted(target, store)
    with store.transaction() as tx:
        tx.set("/t1", 1)
        tx.set("/t2", 2)
    _assert_persisted(target, store)
    snap = store.create_snapshot("before")
    store.set("/a", "changed")
    store.restore_snapshot(snap.id)
    _assert_persisted(target, store)
    store.set("/a", "changed again")
    store.restore_persistent_snapshot(snap.id)
    _assert_persisted(target, store)
    assert store.get_state() == snap.state
    assert_gap_free(target.backend(), "paths", store.version)


def test_resume_after_reopen(target: Target) -> None:
    store = target.open("resume")
    for i in range(7):
        store.set(f"/k{i}", i, metadata={"run": f"r{i}"})
    snap = store.create_persistent_snapshot("mid", {"why": "test"})
    store.delete("/k0")
    state, version = store.get_state(), store.version
    history = [v.to_dict() for v in store.history(limit=100)]
    store.close()

    again = target.open("resume")
    assert again.version == version
    assert again.get_state() == state
    assert [v.to_dict() for v in again.history(limit=100)] == history
    assert [s.to_dict() for s in again.snapshots()] == [snap.to_dict()]
    assert again.state_at(3) == {"k0": 0, "k1": 1, "k2": 2}
    again.set("/next", True)  # continues the same history
    _assert_persisted(target, again)
    assert_gap_free(target.backend(), "resume", version + 1)


def test_resume_with_history_window_and_pruned_backend(target: Target) -> None:
    store = target.open("window", options=StoreOptions(checkpoint_interval=4, max_history=5))
    for i in range(1, 13):
        store.set("/n", i)
    store.close()
    assert target.backend().prune_history("window", keep_last=3) > 0

    again = target.open("window", options=StoreOptions(checkpoint_interval=4, max_history=5))
    assert again.version == 12
    assert again.get("/n") == 12
    # Version 10 is the oldest kept: its base (9) is pruned, so memory starts
    # from its checkpoint and keeps the versions after it.
    assert [v.number for v in again.history()] == [12, 11]
    assert again.state_at(10) == {"n": 10}
    with pytest.raises(NotFoundError):
        again.state_at(9)
    again.set("/n", 13)
    _assert_persisted(target, again)


def test_new_state_starts_empty_and_empty_snapshot_is_stored(target: Target) -> None:
    store = target.open("fresh")
    assert store.version == 0
    assert store.get_state() == {}
    assert store.get_persistent_history() == []
    snap = store.create_persistent_snapshot("empty")
    assert [s.id for s in target.backend().list_snapshots("fresh")] == [snap.id]
    assert target.backend().head_version("fresh") == 0


def test_conflict_when_another_instance_wrote_first_then_refresh(target: Target) -> None:
    first = target.open("shared")
    second = target.open("shared")
    first.set("/owner", "first")
    with pytest.raises(ConflictError) as info:
        second.set("/owner", "second")
    assert info.value.state_id == "shared"
    assert second.version == 0
    assert second.get_state() == {}
    second.refresh()
    assert second.get_state() == {"owner": "first"}
    second.set("/owner", "second")
    assert target.backend().get_state("shared") == {"owner": "second"}
    assert_gap_free(target.backend(), "shared", 2)


def test_persistent_snapshots_and_restore(target: Target) -> None:
    store = target.open("snaps")
    store.set("/v", 1)
    one = store.create_persistent_snapshot("one")
    store.set("/v", 2)
    two = store.create_persistent_snapshot("two", metadata={"k": "v"})
    stored = store.get_persistent_snapshots()
    assert [s.id for s in stored] == [one.id, two.id]
    assert stored[1].to_dict() == two.to_dict()
    assert store.get_persistent_snapshots("no-such-state") == []
    version = store.restore_persistent_snapshot(one.id)
    assert version.metadata["restored_snapshot"] == one.id
    assert store.get("/v") == 1
    _assert_persisted(target, store)
    with pytest.raises(NotFoundError):
        store.restore_persistent_snapshot("missing")


def test_persistent_transaction_commit_and_rollback(target: Target) -> None:
    store = target.open("tx")
    tx = store.begin_persistent_transaction()
    tx.apply([{"op": "add", "path": "/config", "value": {}}])
    tx.set("/config/timeout", 30)
    tx.set("/config/retries", 3)
    tx.metadata["run"] = "r1"
    assert tx.get("/config") == {"timeout": 30, "retries": 3}
    version = tx.commit()
    assert version is not None and version.number == 1
    stored = target.backend().get_versions("tx")
    assert len(stored) == 1 and stored[0].metadata == {"run": "r1"}
    assert target.backend().get_state("tx") == {"config": {"timeout": 30, "retries": 3}}

    with store.begin_persistent_transaction() as tx2:
        tx2.set("/config/timeout", 1)
        tx2.rollback()
    with pytest.raises(RuntimeError), store.begin_persistent_transaction() as tx3:
        tx3.set("/config/timeout", 2)
        raise RuntimeError("abort")
    assert target.backend().head_version("tx") == 1
    assert store.get("/config/timeout") == 30
    with pytest.raises(TransactionError):
        tx3.set("/x", 1)


def test_transaction_conflicts_when_store_moved_on(target: Target) -> None:
    store = target.open("txc")
    tx = store.begin_persistent_transaction()
    tx.set("/a", 1)
    store.set("/b", 2)
    with pytest.raises(ConflictError):
        tx.commit()
    assert target.backend().get_state("txc") == {"b": 2}


def test_persistent_history_and_prune(target: Target) -> None:
    store = target.open("hist")
    for i in range(6):
        store.set("/i", i)
    assert [v.number for v in store.get_persistent_history(limit=3)] == [6, 5, 4]
    assert [v.number for v in store.get_persistent_history(limit=10, before=3)] == [2, 1]
    assert store.prune_history(keep_last=2) == 4
    assert [v.number for v in target.backend().get_versions("hist")] == [5, 6]
    assert target.backend().get_state("hist") == {"i": 5}


def test_stats_ping_and_close_idempotent(target: Target) -> None:
    with target.open("stats") as store:
        store.set("/a", 1)
        store.ping()
        stats = store.stats()
        for key in (
            "backend_type",
            "state_id",
            "memory_version",
            "persisted_version",
            "sync_queue_size",
            "queue_capacity",
            "queue_full_policy",
            "synchronous",
            "write_errors",
            "last_error",
            "batches_written",
            "versions_written",
            "backend",
        ):
            assert key in stats, key
        assert stats["memory_version"] == stats["persisted_version"] == 1
        assert stats["synchronous"] is True
        assert stats["write_errors"] == 0
        assert stats["backend"]["backend_type"] == stats["backend_type"]
    assert store.closed
    store.close()  # idempotent
    with pytest.raises(StorageError):
        store.set("/a", 2)
    assert store.get("/a") == 1  # memory stays readable


def test_sync_backend_failure_rolls_memory_back() -> None:
    backend = FailingBackend()
    store = PersistentStateStore(backend, "fail")
    store.set("/a", 1)
    backend.fail_next = 1
    with pytest.raises(StorageError, match="injected"):
        store.set("/a", 2)
    assert store.get("/a") == 1
    assert store.version == 1
    with pytest.raises(StorageError):
        backend.fail_next = 1
        with store.transaction() as tx:
            tx.set("/b", 1)
    assert store.get_state() == {"a": 1}
    backend.fail_next = 1
    with pytest.raises(StorageError):
        store.create_persistent_snapshot("x")
    assert store.snapshots() == []
    stats = store.stats()
    assert stats["write_errors"] == 3
    assert "injected" in stats["last_error"]
    store.set("/a", 3)
    assert backend.get_state("fail") == {"a": 3}
    assert_gap_free(backend, "fail", 2)
    store.close()


def test_owned_backend_is_closed_borrowed_is_not(tmp_path: object) -> None:
    borrowed = MemoryBackend()
    PersistentStateStore(borrowed, "x").close()
    borrowed.ping()  # still open
    owned = PersistentStateStore("memory://", "x")
    owned.close()
    with pytest.raises(StorageError):
        owned.backend.ping()


def test_config_url_and_arguments_are_validated() -> None:
    cfg = StorageConfig.from_url("memory://", checkpoint_interval=7)
    with PersistentStateStore(cfg, "cfg") as store:
        for _ in range(7):
            store.set("/x", 1)
        assert store.backend.get_version("cfg", 7).checkpoint == {"x": 1}
    for kwargs, fld in [
        ({"queue_size": 0}, "queue_size"),
        ({"batch_size": -1}, "batch_size"),
        ({"queue_full_policy": "drop"}, "queue_full_policy"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry_backoff": -0.1}, "retry_backoff"),
    ]:
        with pytest.raises(ConfigError) as info:
            PersistentStateStore(MemoryBackend(), "x", **kwargs)  # type: ignore[arg-type]
        assert info.value.field == fld


def test_passwords_never_reach_stats_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="agui_state")
    with PersistentStateStore("memory://user:s3cret@host", "pw", synchronous=False) as store:
        store.set("/a", 1)
        store.flush()
        assert "s3cret" not in repr(store.stats())
        assert "s3cret" not in repr(store)
    assert caplog.records, "opening should log"
    assert "s3cret" not in caplog.text


def test_reopen_after_a_direct_set_state_repair_shows_the_stored_state(target: Target) -> None:
    store = target.open("repair")
    store.set("/a", 1)
    store.set("/b", 2)
    store.close()
    target.backend().set_state("repair", {"repaired": True}, expected_version=2)

    again = target.open("repair")
    assert again.version == 2
    assert again.get_state() == {"repaired": True}
    again.set("/c", 3)
    assert target.backend().get_state("repair") == {"repaired": True, "c": 3}
    assert_gap_free(target.backend(), "repair", 3)
