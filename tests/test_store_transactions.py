"""StateStore transactions: one version or none, optimistic concurrency, misuse."""

from __future__ import annotations

from typing import Any

import pytest

from agui_state.errors import (
    ConflictError,
    InvalidPathError,
    LimitExceededError,
    PatchError,
    StorageError,
    TransactionError,
    ValidationError,
)
from agui_state.models import StateVersion
from agui_state.store import StateStore, StoreTransaction
from agui_state.store.limits import StoreLimits, StoreOptions


@pytest.fixture
def store() -> StateStore:
    s = StateStore("tx")
    s.set("/count", 0)
    return s


def test_commit_publishes_one_version_with_the_concatenated_delta(store: StateStore) -> None:
    with store.transaction() as tx:
        assert isinstance(tx, StoreTransaction) and tx.base_version == 1
        tx.set("/count", 1)
        tx.apply(
            [
                {"op": "add", "path": "/items", "value": []},
                {"op": "add", "path": "/items/-", "value": "a"},
            ]
        )
        tx.delete("/count")
        tx.metadata["run_id"] = "r1"
        assert tx.get() == {"items": ["a"]}  # sees its own writes
        assert store.get_state() == {"count": 0}  # nobody else does yet
        assert store.version == 1
    assert store.get_state() == {"items": ["a"]}
    assert store.version == 2
    v = store.get_version(2)
    assert v.metadata == {"run_id": "r1"}
    assert v.delta == [
        {"op": "replace", "path": "/count", "value": 1},
        {"op": "add", "path": "/items", "value": []},
        {"op": "add", "path": "/items/-", "value": "a"},
        {"op": "remove", "path": "/count"},
    ]
    assert not tx.is_open


def test_explicit_commit_returns_the_version(store: StateStore) -> None:
    tx = store.transaction()
    tx.set("/count", 5)
    assert tx.operations == [{"op": "replace", "path": "/count", "value": 5}]
    v = tx.commit()
    assert isinstance(v, StateVersion) and v.number == 2
    assert store.get("/count") == 5


def test_empty_transaction_commits_nothing(store: StateStore) -> None:
    tx = store.transaction()
    assert tx.commit() is None
    with store.transaction():
        pass
    assert store.version == 1


def test_exception_in_the_block_rolls_back(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.set("/count", 99)
        raise RuntimeError("agent crashed")
    assert store.get("/count") == 0 and store.version == 1


def test_explicit_rollback(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.set("/count", 1)
        tx.rollback()
    assert store.get("/count") == 0 and store.version == 1


def test_conflict_when_the_store_moved_on(store: StateStore) -> None:
    tx = store.transaction()
    tx.set("/count", 1)
    store.set("/other", True)
    with pytest.raises(ConflictError) as info:
        tx.commit()
    assert (info.value.state_id, info.value.expected, info.value.actual) == ("tx", 1, 2)
    assert store.get_state() == {"count": 0, "other": True}
    assert store.version == 2
    with pytest.raises(TransactionError):
        tx.commit()


def test_conflict_after_the_history_was_reloaded(store: StateStore) -> None:
    tx = store.transaction()
    tx.set("/count", 1)
    store.load_history(1, {"count": 40}, [])  # same version number, different content
    with pytest.raises(ConflictError):
        tx.commit()
    assert store.get_state() == {"count": 40}


@pytest.mark.parametrize(
    "use",
    [
        lambda tx: tx.get(),
        lambda tx: tx.set("/a", 1),
        lambda tx: tx.delete("/count"),
        lambda tx: tx.apply([]),
        lambda tx: tx.commit(),
        lambda tx: tx.rollback(),
        lambda tx: setattr(tx, "metadata", {}),
        lambda tx: tx.__enter__(),
    ],
)
@pytest.mark.parametrize("finish", ["commit", "rollback"])
def test_use_after_finish_is_a_transaction_error(store: StateStore, use: Any, finish: str) -> None:
    tx = store.transaction()
    tx.set("/count", 1)
    getattr(tx, finish)()
    with pytest.raises(TransactionError):
        use(tx)


def test_a_failing_call_leaves_the_transaction_usable(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.set("/a", 1)
        with pytest.raises(PatchError):
            tx.apply(
                [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 9}]
            )
        with pytest.raises(InvalidPathError):
            tx.delete("/missing")
        with pytest.raises(InvalidPathError):
            tx.get("/b")
        with pytest.raises(ValidationError):
            tx.set("/c", {1, 2})
        tx.set("/d", 4)
    assert store.get_state() == {"count": 0, "a": 1, "d": 4}
    assert len(store.get_version(2).delta) == 2


def test_values_are_private_to_the_transaction(store: StateStore) -> None:
    value = {"xs": [1]}
    with store.transaction() as tx:
        tx.set("/v", value)
        value["xs"].append(2)
        tx.get("/v")["xs"].append(3)
    assert store.get("/v") == {"xs": [1]}


def test_metadata_is_validated_at_commit(store: StateStore) -> None:
    tx = store.transaction()
    tx.set("/count", 1)
    with pytest.raises(ValidationError):
        tx.metadata = ["not", "a", "dict"]  # type: ignore[assignment]
    tx.metadata = None  # type: ignore[assignment]
    assert tx.metadata == {}
    tx.metadata = {"when": object()}
    with pytest.raises(ValidationError):
        tx.commit()
    assert store.version == 1
    with pytest.raises(TransactionError):
        tx.commit()


def test_operation_limit_counts_the_whole_transaction() -> None:
    store = StateStore("tx", options=StoreOptions(limits=StoreLimits(max_ops_per_patch=3)))
    with store.transaction() as tx:
        tx.apply([{"op": "add", "path": f"/k{i}", "value": i} for i in range(2)])
        tx.set("/k2", 2)
        with pytest.raises(LimitExceededError) as info:
            tx.set("/k3", 3)
        assert (info.value.limit, info.value.value, info.value.maximum) == (
            "max_ops_per_patch",
            4,
            3,
        )
        with pytest.raises(LimitExceededError):
            tx.apply([{"op": "add", "path": "/k3", "value": 3}])
    assert store.get_state() == {"k0": 0, "k1": 1, "k2": 2}


def test_commit_goes_through_the_persistence_hook() -> None:
    seen: list[StateVersion] = []
    fail = {"on": False}

    def hook(version: StateVersion) -> None:
        if fail["on"]:
            raise StorageError("backend down")
        seen.append(version)

    store = StateStore("tx", on_version=hook)
    with store.transaction() as tx:
        tx.set("/a", 1)
        tx.set("/b", 2)
    assert [len(v.delta) for v in seen] == [2]
    fail["on"] = True
    tx = store.transaction()
    tx.set("/a", 5)
    with pytest.raises(StorageError):
        tx.commit()
    assert store.get_state() == {"a": 1, "b": 2} and store.version == 1
    with pytest.raises(TransactionError):
        tx.rollback()


def test_retry_loop_on_conflict(store: StateStore) -> None:
    attempts = 0
    while True:
        attempts += 1
        try:
            with store.transaction() as tx:
                tx.set("/count", tx.get("/count") + 1)
                if attempts == 1:
                    store.set("/count", 10)  # someone else wins the first round
            break
        except ConflictError:
            continue
    assert attempts == 2
    assert store.get("/count") == 11
    assert "committed" in repr(tx)
