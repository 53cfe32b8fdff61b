"""PersistentStateStore in asynchronous (write-behind) mode."""

from __future__ import annotations

import threading

import pytest

from agui_state.errors import ConflictError, QueueFullError, StorageError
from agui_state.persistent import PersistentStateStore
from tests.test_persistent_support import (
    FailingBackend,
    Target,
    assert_gap_free,
    persistent_url,
    target,
)

__all__ = ["persistent_url", "target"]  # fixtures used by this module


def test_close_drains_every_write(target: Target) -> None:
    store = target.open("drain", synchronous=False, batch_size=50)
    for i in range(300):
        store.set(f"/k{i % 7}", i)
    expected = store.get_state()
    store.close()
    other = target.backend()
    assert other.get_state("drain") == expected
    assert_gap_free(other, "drain", 300)
    assert store.pending_versions() == []


def test_flush_makes_everything_durable_and_group_commits(target: Target) -> None:
    store = target.open("flush", synchronous=False, batch_size=500)
    ids = [store.set("/n", i).id for i in range(120)]
    store.flush()
    other = target.backend()
    assert [v.id for v in other.get_versions("flush")] == ids
    stats = store.stats()
    assert stats["persisted_version"] == stats["memory_version"] == 120
    assert stats["versions_written"] == 120
    assert stats["sync_queue_size"] == 0
    assert 1 <= stats["batches_written"] <= 120
    store.flush()  # nothing pending: returns at once


def test_async_resume_and_every_path(target: Target) -> None:
    store = target.open("apaths", synchronous=False)
    store.set("/a", 1)
    store.apply_patch([{"op": "add", "path": "/b", "value": [1, 2]}])
    store.delete("/a")
    with store.begin_persistent_transaction() as tx:
        tx.set("/c", 3)
    snap = store.create_persistent_snapshot("s")  # flushes first: its version exists
    assert target.backend().head_version("apaths") == snap.version == 4
    store.set("/c", 4)
    store.restore_persistent_snapshot(snap.id)
    state = store.get_state()
    store.close()
    again = target.open("apaths", synchronous=False)
    assert again.version == 6
    assert again.get_state() == state
    assert [s.id for s in again.snapshots()] == [snap.id]


def test_group_commit_writes_batches_in_one_transaction() -> None:
    backend = FailingBackend()
    backend.gate = threading.Event()
    store = PersistentStateStore(backend, "group", synchronous=False, batch_size=10)
    store.set("/n", 0)
    assert backend.entered.wait(5)  # the writer holds version 1 at the gate
    for i in range(1, 25):
        store.set("/n", i)
    backend.gate.set()
    store.flush(timeout=10)
    # The first batch is version 1 alone; the 24 queued behind it go in 10s.
    assert backend.batches == [1, 10, 10, 4]
    assert store.stats()["batches_written"] == 4
    assert_gap_free(backend, "group", 25)
    store.close()


def test_queue_full_raise_policy_rejects_before_memory_changes() -> None:
    backend = FailingBackend()
    backend.gate = threading.Event()
    store = PersistentStateStore(
        backend, "qraise", synchronous=False, queue_size=2, queue_full_policy="raise"
    )
    store.set("/n", 1)
    store.set("/n", 2)
    with pytest.raises(QueueFullError) as info:
        store.set("/n", 3)
    assert info.value.capacity == 2
    assert store.get("/n") == 2
    assert store.version == 2
    assert len(store.pending_versions()) == 2
    backend.gate.set()
    store.flush(timeout=10)
    store.set("/n", 3)  # room again once the writer caught up
    store.close()
    assert backend.get_state("qraise") == {"n": 3}
    assert_gap_free(backend, "qraise", 3)


def test_queue_full_block_policy_waits_for_room() -> None:
    backend = FailingBackend()
    backend.gate = threading.Event()
    store = PersistentStateStore(backend, "qblock", synchronous=False, queue_size=2)
    store.set("/n", 1)
    store.set("/n", 2)
    done = threading.Event()

    def third() -> None:
        store.set("/n", 3)
        done.set()

    writer = threading.Thread(target=third)
    writer.start()
    writer.join(0.3)
    assert not done.is_set(), "a write into a full queue must wait with the block policy"
    assert len(store.pending_versions()) == 2
    backend.gate.set()
    writer.join(10)
    assert done.is_set()
    store.close()
    assert backend.get_state("qblock") == {"n": 3}
    assert_gap_free(backend, "qblock", 3)


def test_async_conflict_is_reported_and_refresh_can_discard() -> None:
    backend = FailingBackend()
    errors: list[Exception] = []
    mine = PersistentStateStore(
        backend, "race", synchronous=False, max_retries=0, retry_backoff=0.001
    )
    mine.set_error_handler(errors.append)
    other = PersistentStateStore(backend, "race")
    other.set("/who", "other")
    mine.set("/who", "mine")  # accepted in memory, conflicts in storage
    with pytest.raises(ConflictError):
        mine.flush()
    assert errors and isinstance(errors[0], ConflictError)
    assert [v.number for v in mine.pending_versions()] == [1]
    mine.refresh(discard_pending=True)
    assert mine.get_state() == {"who": "other"}
    mine.set("/who", "mine")
    mine.flush()
    assert backend.get_state("race") == {"who": "mine"}
    mine.close()
    other.close()


def test_write_after_close_is_rejected() -> None:
    backend = FailingBackend()
    store = PersistentStateStore(backend, "closed", synchronous=False)
    store.set("/a", 1)
    store.close()
    with pytest.raises(StorageError):
        store.set("/a", 2)
    assert store.get("/a") == 1
    assert backend.get_state("closed") == {"a": 1}
