"""Conformance checks: transactions, concurrent writers (threads, instances,
processes), ``prune_history``, opening pruned histories and housekeeping.

Collected by :mod:`agui_state.testing.suite`; see :mod:`agui_state.testing`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from agui_state.backends import StorageBackend
from agui_state.errors import (
    ConflictError,
    NotFoundError,
    StorageError,
    TransactionError,
    ValidationError,
)
from agui_state.testing.fixtures import BackendFactory, durability_check
from agui_state.testing.hammer import assert_hammered, hammer
from agui_state.testing.helpers import (
    append_with_retry,
    assert_not_found,
    expected_state,
    make_snapshot,
    make_version,
    numbers,
    save_all,
    standard_chain,
    standard_delta,
)


# ------------------------------------------------------------- transactions
@durability_check
def test_transaction_commit_is_atomic_across_states(backend: StorageBackend) -> None:
    backend.set_state("existing", {"n": 0})
    tx = backend.begin_transaction()
    tx.set_state("a", {"a": 1})
    tx.save_version("b", make_version("b", 1, [{"op": "add", "path": "/b", "value": 1}]))
    for version in standard_chain("c", 1, 3):
        tx.save_version("c", version)
    tx.save_snapshot("c", make_snapshot("c", 3, expected_state(3), snapshot_id="c-snap"))
    tx.save_version(
        "existing", make_version("existing", 1, [{"op": "replace", "path": "/n", "value": 1}])
    )
    # Nothing is visible before commit.
    assert backend.list_states() == ["existing"]
    assert backend.head_version("existing") == 0
    tx.commit()
    assert backend.list_states() == ["a", "b", "c", "existing"]
    assert backend.get_state("a") == {"a": 1}
    assert backend.get_state("b") == {"b": 1}
    assert backend.head_version("c") == 3
    assert backend.get_state("c") == expected_state(3)
    assert backend.get_snapshot("c", "c-snap").state == expected_state(3)
    assert backend.get_state("existing") == {"n": 1}


def _conflicting_batches() -> list[list[tuple[str, Any]]]:
    """Batches with one bad item (first, middle or last); ("v"|"s"|"snap", item)."""
    fresh = standard_chain("fresh", 1, 2)
    x3 = make_version("x", 3, standard_delta(3))
    x5 = make_version("x", 5, standard_delta(5))
    dup = make_version("x", 2, [{"op": "add", "path": "/dup", "value": 1}])
    ghost_snap = make_snapshot("ghost", 0)
    return [
        [("v", x5), ("v", fresh[0]), ("s", ("y", {"y": 1}, None))],
        [("v", fresh[0]), ("v", x3), ("v", x3), ("s", ("y", {"y": 1}, None))],
        [("s", ("y", {"y": 1}, None)), ("v", fresh[0]), ("v", fresh[1]), ("v", dup)],
        [("v", fresh[0]), ("s", ("x", {"x": "new"}, 1)), ("v", x3)],
        [("v", fresh[0]), ("snap", make_snapshot("x", 2)), ("snap", ghost_snap)],
        [("v", fresh[1]), ("v", x3)],
    ]


@pytest.mark.parametrize("case", range(6))
def test_failed_batch_writes_nothing(backend: StorageBackend, case: int) -> None:
    save_all(backend, standard_chain("x", 1, 2))
    before = (backend.get_versions("x"), backend.list_snapshots("x"), backend.get_state("x"))
    batch = _conflicting_batches()[case]
    tx = backend.begin_transaction()
    for kind, item in batch:
        if kind == "v":
            tx.save_version(item.state_id, item)
        elif kind == "snap":
            tx.save_snapshot(item.state_id, item)
        else:
            sid, state, expected = item
            tx.set_state(sid, state, expected_version=expected)
    with pytest.raises((ConflictError, NotFoundError)):
        tx.commit()
    assert (
        backend.get_versions("x"),
        backend.list_snapshots("x"),
        backend.get_state("x"),
    ) == before
    assert backend.head_version("x") == 2
    for sid in ("fresh", "y", "ghost"):
        assert not backend.exists(sid), sid
        assert backend.get_versions(sid) == []
    assert backend.list_states() == ["x"]
    with pytest.raises(TransactionError):
        tx.commit()


def test_rollback_and_context_manager(backend: StorageBackend) -> None:
    tx = backend.begin_transaction()
    tx.set_state("rolled", {"a": 1})
    tx.save_version("rolled2", make_version("rolled2", 1))
    tx.rollback()
    assert backend.list_states() == []
    uses: tuple[Callable[[], object], ...] = (
        lambda: tx.set_state("z", {}),
        lambda: tx.save_version("z", make_version("z", 1)),
        lambda: tx.save_snapshot("z", make_snapshot("z", 0)),
        tx.commit,
        tx.rollback,
    )
    for use in uses:
        with pytest.raises(TransactionError):
            use()

    with pytest.raises(RuntimeError, match="boom"), backend.begin_transaction() as tx2:
        tx2.set_state("boom", {"a": 1})
        raise RuntimeError("boom")
    assert not backend.exists("boom")

    with backend.begin_transaction() as tx3:
        tx3.set_state("ok", {"a": 1})
        tx3.save_version("ok", make_version("ok", 1, [{"op": "add", "path": "/b", "value": 2}]))
    assert backend.get_state("ok") == {"a": 1, "b": 2}
    with pytest.raises(TransactionError):
        tx3.commit()
    with pytest.raises(TransactionError):
        tx3.save_version("ok", make_version("ok", 2))

    with pytest.raises(ConflictError), backend.begin_transaction() as tx4:
        tx4.set_state("other", {})
        tx4.save_version("ok", make_version("ok", 5))
    assert not backend.exists("other")
    assert backend.head_version("ok") == 1

    # Finished explicitly inside the block: the exit leaves it alone.
    with backend.begin_transaction() as tx5:
        tx5.set_state("explicit", {"a": 1})
        tx5.commit()
    assert backend.get_state("explicit") == {"a": 1}
    with backend.begin_transaction() as tx6:
        tx6.set_state("dropped", {"a": 1})
        tx6.rollback()
    assert not backend.exists("dropped")

    with backend.begin_transaction():
        pass  # an empty transaction commits nothing
    assert backend.list_states() == ["explicit", "ok"]

    # An error raised in the block after an explicit rollback is not masked.
    with pytest.raises(ValueError, match="body"), backend.begin_transaction() as tx5:
        tx5.set_state("masked", {})
        tx5.rollback()
        raise ValueError("body")
    assert not backend.exists("masked")


# -------------------------------------------------------------- concurrency
@durability_check
def test_two_instances_one_append_wins(
    backend: StorageBackend, backend_factory: BackendFactory
) -> None:
    sid = "shared"
    second = backend_factory()
    chain = standard_chain(sid, 1, 1)
    backend.save_version(sid, chain[0])
    assert second.get_state(sid) == expected_state(1)
    writers = [backend, second]
    for number in range(2, 8):
        mine = make_version(sid, number, [{"op": "add", "path": "/winner", "value": "first"}])
        theirs = make_version(sid, number, [{"op": "add", "path": "/winner", "value": "second"}])
        first, other = writers[number % 2], writers[(number + 1) % 2]
        first.save_version(sid, mine)
        with pytest.raises(ConflictError):
            other.save_version(sid, theirs)
        for b in writers:
            assert b.head_version(sid) == number
            assert b.get_version(sid, number) == mine
            assert b.get_state(sid)["winner"] == "first"
    assert second.list_states() == [sid]


def test_second_instance_sees_every_change(
    backend: StorageBackend, backend_factory: BackendFactory
) -> None:
    # Nothing may be cached per instance: heads, checkpoints, listings, deletes.
    sid = "seen"
    other = backend_factory()
    chain = standard_chain(sid, 1, 6, checkpoint_every=4)
    save_all(backend, chain[:3])
    assert other.get_state(sid) == expected_state(3)
    save_all(other, chain[3:5])
    assert backend.get_state(sid) == expected_state(5)
    assert backend.state_at(sid, 4) == expected_state(4)
    snap = make_snapshot(sid, 5, expected_state(5))
    backend.save_snapshot(sid, snap)
    assert other.list_snapshots(sid) == [snap]
    assert other.prune_history(sid, 2) == 3
    assert numbers(backend.get_versions(sid)) == [4, 5]
    assert backend.state_at(sid, 4) == expected_state(4)
    # A transaction queued on one instance conflicts with the other's write.
    tx = backend.begin_transaction()
    tx.set_state("also", {"x": 1})
    tx.save_version(sid, chain[5])
    other.save_version(sid, make_version(sid, 6, standard_delta(6), parent_id=chain[4].id))
    with pytest.raises(ConflictError):
        tx.commit()
    assert not other.exists("also")
    other.set_state(sid, {"replaced": True}, expected_version=6)
    assert backend.get_state(sid) == {"replaced": True}
    backend.delete_state(sid)
    assert not other.exists(sid)
    assert other.list_states() == []
    assert other.list_snapshots(sid) == []
    fresh = make_version(sid, 1, [{"op": "add", "path": "/fresh", "value": 1}])
    other.save_version(sid, fresh)
    assert backend.get_versions(sid) == [fresh]
    assert backend.get_state(sid) == {"fresh": 1}


def _race_once(writers: list[StorageBackend], sid: str, number: int) -> list[str]:
    """Let every writer append version ``number`` at the same moment; return outcomes."""
    barrier = threading.Barrier(len(writers))
    results: list[str] = []

    def write(b: StorageBackend, tag: str) -> None:
        version = make_version(sid, number, [{"op": "add", "path": "/log/-", "value": tag}])
        barrier.wait()
        try:
            b.save_version(sid, version)
            results.append("won")
        except ConflictError:
            results.append("conflict")

    threads = [
        threading.Thread(target=write, args=(b, f"w{i}-{number}")) for i, b in enumerate(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_instances_race(backend: StorageBackend, backend_factory: BackendFactory) -> None:
    sid = "race"
    writers = [backend, backend_factory()]
    backend.set_state(sid, {"log": []})
    for number in range(1, 9):
        assert sorted(_race_once(writers, sid, number)) == ["conflict", "won"], f"round {number}"
    assert backend.head_version(sid) == 8
    assert len(backend.get_state(sid)["log"]) == 8
    assert numbers(backend.get_versions(sid)) == list(range(1, 9))


def test_threads_append_without_lost_updates(
    backend: StorageBackend, backend_factory: BackendFactory
) -> None:
    sid = "threads"
    second = backend_factory()
    backend.set_state(sid, {"log": []})
    errors: list[BaseException] = []

    def worker(b: StorageBackend, tag: int) -> None:
        try:
            for i in range(25):
                append_with_retry(b, sid, f"{tag}-{i}")
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(backend if t % 2 else second, t)) for t in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert backend.head_version(sid) == 100
    assert numbers(backend.get_versions(sid)) == list(range(1, 101))
    log = backend.get_state(sid)["log"]
    assert sorted(log) == sorted(f"{t}-{i}" for t in range(4) for i in range(25))
    assert second.get_state(sid)["log"] == log


@pytest.mark.slow
def test_processes_append_without_lost_updates(backend_factory: BackendFactory) -> None:
    if not backend_factory.cross_process:
        pytest.skip(f"{backend_factory.kind} storage lives inside one process")
    sid = "processes ü"
    tags = ["p0", "p1"]
    backend = backend_factory()
    backend.set_state(sid, {"log": []})
    acked = hammer({"url": backend_factory.url}, sid, 30, tags)
    assert backend.head_version(sid) == 60
    assert_hammered(backend, sid, acked, tags)


# ------------------------------------------------------------------- prune
@durability_check
@pytest.mark.parametrize("every", [None, 4, 7], ids=["no-checkpoints", "cp-every-4", "cp-every-7"])
def test_prune_history_keeps_tail_reconstructible(
    backend: StorageBackend, every: int | None
) -> None:
    sid = "doc"
    chain = standard_chain(sid, 1, 20, checkpoint_every=every)
    save_all(backend, chain)
    assert backend.prune_history(sid, 5) == 15
    assert numbers(backend.get_versions(sid)) == [16, 17, 18, 19, 20]
    assert numbers(backend.get_version_history(sid)) == [20, 19, 18, 17, 16]
    assert backend.head_version(sid) == 20
    assert backend.get_state(sid) == expected_state(20)
    for n in range(16, 21):
        assert backend.state_at(sid, n) == expected_state(n), f"state_at({n})"
    oldest = backend.get_version(sid, 16)
    assert oldest.checkpoint == expected_state(16)
    assert (oldest.id, oldest.delta, oldest.metadata, oldest.parent_id) == (
        chain[15].id,
        chain[15].delta,
        chain[15].metadata,
        chain[15].parent_id,
    )
    for version in chain[16:]:
        assert backend.get_version(sid, version.id) == version
    for gone in chain[:15]:
        with pytest.raises(NotFoundError) as exc:
            backend.get_version(sid, gone.number)
        assert_not_found(exc, "version", sid, gone.number)
        with pytest.raises(NotFoundError):
            backend.get_version(sid, gone.id)
    for n in (1, 8, 15):
        with pytest.raises(NotFoundError):
            backend.state_at(sid, n)
    # Pruning again, then appending, continues from the head.
    assert backend.prune_history(sid, 2) == 3
    assert numbers(backend.get_versions(sid)) == [19, 20]
    assert backend.state_at(sid, 19) == expected_state(19)
    save_all(backend, standard_chain(sid, 21, 23, parent_id=chain[-1].id))
    assert backend.head_version(sid) == 23
    assert backend.get_state(sid) == expected_state(23)
    for n in range(19, 24):
        assert backend.state_at(sid, n) == expected_state(n)


def test_prune_history_edges(backend: StorageBackend) -> None:
    sid = "doc"
    chain = standard_chain(sid, 1, 6)
    save_all(backend, chain)
    for keep in (6, 7, 100):
        assert backend.prune_history(sid, keep) == 0
        assert backend.get_versions(sid) == chain  # untouched, no checkpoint added
    for bad in (-1, True, 1.5, "2"):
        with pytest.raises(ValidationError):
            backend.prune_history(sid, bad)  # type: ignore[arg-type]
    assert backend.prune_history(sid, 0) == 6
    assert backend.get_versions(sid) == []
    assert backend.get_version_history(sid) == []
    assert backend.head_version(sid) == 6
    assert backend.get_state(sid) == expected_state(6)
    assert backend.state_at(sid, 6) == expected_state(6)
    with pytest.raises(NotFoundError):
        backend.state_at(sid, 5)
    assert backend.prune_history(sid, 0) == 0
    save_all(backend, standard_chain(sid, 7, 8, parent_id=chain[-1].id))
    assert backend.get_state(sid) == expected_state(8)
    assert backend.state_at(sid, 7) == expected_state(7)
    assert numbers(backend.get_versions(sid)) == [7, 8]

    backend.set_state("empty", {"e": 1})
    assert backend.prune_history("empty", 0) == 0
    assert backend.prune_history("empty", 3) == 0
    assert backend.get_state("empty") == {"e": 1}
    assert backend.head_version("empty") == 0


# ------------------------------------------------------ opening pruned history
def test_checkpointed_version_opens_pruned_history(backend: StorageBackend) -> None:
    sid = "imported"
    with pytest.raises(ConflictError):
        backend.save_version(sid, make_version(sid, 5, standard_delta(5)))
    assert not backend.exists(sid)
    opening = standard_chain(sid, 5, 7, checkpoint_first=True, parent_id="pruned-parent")
    backend.save_version(sid, opening[0])
    assert backend.head_version(sid) == 5
    assert backend.get_state(sid) == expected_state(5)
    assert backend.state_at(sid, 5) == expected_state(5)
    with pytest.raises(NotFoundError):
        backend.state_at(sid, 4)
    assert backend.get_version(sid, 5).parent_id == "pruned-parent"
    save_all(backend, opening[1:])
    assert backend.head_version(sid) == 7
    assert backend.get_state(sid) == expected_state(7)
    assert numbers(backend.get_version_history(sid)) == [7, 6, 5]
    # Only an absent state can be opened that way.
    jump = make_version(sid, 20, [], checkpoint={"jump": True})
    with pytest.raises(ConflictError):
        backend.save_version(sid, jump)
    assert backend.head_version(sid) == 7

    batch = standard_chain("batch", 10, 13, checkpoint_first=True)
    save_all(backend, batch, batch=True)
    assert backend.get_state("batch") == expected_state(13)
    assert backend.state_at("batch", 11) == expected_state(11)
    assert numbers(backend.get_versions("batch")) == [10, 11, 12, 13]


# ------------------------------------------------------------ housekeeping
def test_ping_stats_close(backend: StorageBackend, backend_factory: BackendFactory) -> None:
    backend.ping()
    backend.set_state("doc", {"a": 1})
    stats = backend.stats()
    assert isinstance(stats, dict)
    assert stats["backend_type"] == backend.backend_type
    assert isinstance(stats["backend_type"], str) and stats["backend_type"]
    password = urlsplit(backend_factory.url).password
    if password:
        assert password not in repr(stats)
        assert password not in repr(backend)
        assert password not in repr(backend.config)
    backend.close()
    backend.close()  # idempotent
    with pytest.raises(StorageError):
        backend.ping()
    with pytest.raises(StorageError):
        backend.save_version("doc", make_version("doc", 1))


def test_context_manager_closes(backend_factory: BackendFactory) -> None:
    with backend_factory() as b:
        b.set_state("doc", {"a": 1})
        b.ping()
    with pytest.raises(StorageError):
        b.ping()
