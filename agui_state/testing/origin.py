"""Conformance checks: the origin (a state's content at version 0) and time
travel across version checkpoints, repairs, pruning and re-creation.

A state created with ``set_state(sid, content)`` starts at version 0 with that
content. ``state_at(n)`` must return what ``get_state`` returned when the head
was ``n``, also after a version carrying a checkpoint has replaced the
version-0 checkpoint as the latest one.

Collected by :mod:`agui_state.testing.suite`; see :mod:`agui_state.testing`.
"""

from __future__ import annotations

import pytest

from agui_state.backends import StorageBackend
from agui_state.errors import NotFoundError
from agui_state.models import State
from agui_state.persistent import PersistentStateStore
from agui_state.store import StoreOptions
from agui_state.testing.fixtures import BackendFactory, durability_check
from agui_state.testing.helpers import assert_not_found, make_version

ORIGIN: State = {"initial": True, "items": ["a"]}


def grow(
    backend: StorageBackend,
    state_id: str,
    start: State,
    first: int,
    last: int,
    *,
    checkpoint_every: int | None = None,
) -> list[State]:
    """Append versions ``first..last``, version ``n`` adding ``/k<n>: n``.

    Versions numbered a multiple of ``checkpoint_every`` carry their full
    state as checkpoint. Returns the expected states after ``first - 1``
    (``start``) .. ``last``, computed here, not read from the backend.
    """
    states = [dict(start)]
    for number in range(first, last + 1):
        state = {**states[-1], f"k{number}": number}
        carries = checkpoint_every is not None and number % checkpoint_every == 0
        version = make_version(
            state_id,
            number,
            [{"op": "add", "path": f"/k{number}", "value": number}],
            checkpoint=dict(state) if carries else None,
        )
        backend.save_version(state_id, version)
        states.append(state)
    return states


def assert_time_travel(backend: StorageBackend, state_id: str, states: list[State]) -> None:
    """``state_at(n) == states[n]`` for every n, and the head state is current."""
    got = [backend.state_at(state_id, n) for n in range(len(states))]
    assert got == states
    assert backend.get_state(state_id) == states[-1]


# ------------------------------------------------------------------- origin
@durability_check
def test_origin_survives_later_version_checkpoints(
    backend: StorageBackend, backend_factory: BackendFactory
) -> None:
    sid = "doc"
    backend.set_state(sid, ORIGIN)
    states = grow(backend, sid, ORIGIN, 1, 10, checkpoint_every=3)
    assert backend.get_version(sid, 9).checkpoint == states[9]
    assert_time_travel(backend, sid, states)
    # Stored, not remembered by the instance that wrote it.
    assert_time_travel(backend_factory(), sid, states)


def test_origin_written_in_a_batch(backend: StorageBackend) -> None:
    # set_state on an absent state, then versions, in one transaction.
    with backend.begin_transaction() as tx:
        tx.set_state("a", ORIGIN)
        tx.save_version("a", make_version("a", 1, [{"op": "add", "path": "/k1", "value": 1}]))
        tx.save_version(
            "a",
            make_version(
                "a",
                2,
                [{"op": "add", "path": "/k2", "value": 2}],
                checkpoint={**ORIGIN, "k1": 1, "k2": 2},
            ),
        )
    assert_time_travel(backend, "a", [ORIGIN, {**ORIGIN, "k1": 1}, {**ORIGIN, "k1": 1, "k2": 2}])
    # A set_state after a version of the same batch is at head 1: no origin.
    with backend.begin_transaction() as tx:
        tx.save_version("b", make_version("b", 1, [{"op": "add", "path": "/k1", "value": 1}]))
        tx.set_state("b", {"k1": 1, "set": True})
    states = grow(backend, "b", {"k1": 1, "set": True}, 2, 2, checkpoint_every=1)
    assert backend.state_at("b", 0) == {}
    assert backend.state_at("b", 2) == states[-1]


def test_set_state_at_head_zero_twice_replaces_the_origin(backend: StorageBackend) -> None:
    backend.set_state("doc", {"first": 1})
    backend.set_state("doc", {"second": 2}, expected_version=0)
    states = grow(backend, "doc", {"second": 2}, 1, 3, checkpoint_every=1)
    assert_time_travel(backend, "doc", states)
    # Replaced by {} too: nothing of the first content remains.
    backend.set_state("empty", {"first": 1})
    backend.set_state("empty", {})
    states = grow(backend, "empty", {}, 1, 2, checkpoint_every=2)
    assert_time_travel(backend, "empty", states)


def test_repair_at_a_later_head_keeps_origin_and_recorded_history(
    backend: StorageBackend,
) -> None:
    # set_state at head h > 0 redefines the current state without rewriting
    # history: while it is the latest checkpoint, state_at(h) is the repaired
    # state; once a later version carries a checkpoint, state_at below that
    # version is rebuilt from the recorded history (the origin and the deltas).
    sid = "doc"
    backend.set_state(sid, ORIGIN)
    recorded = grow(backend, sid, ORIGIN, 1, 2)
    repaired = {**recorded[2], "repaired": True}
    backend.set_state(sid, repaired, expected_version=2)
    assert backend.state_at(sid, 2) == repaired
    assert backend.get_state(sid) == repaired
    assert backend.state_at(sid, 1) == recorded[1]
    after = grow(backend, sid, repaired, 3, 4, checkpoint_every=4)
    assert backend.get_state(sid) == after[-1]
    assert backend.state_at(sid, 4) == after[-1]
    assert backend.state_at(sid, 3) == {**recorded[2], "k3": 3}
    assert backend.state_at(sid, 2) == recorded[2]
    assert backend.state_at(sid, 0) == ORIGIN


# -------------------------------------------------------------------- prune
def test_prune_keeps_time_travel_exact_and_drops_version_zero(
    backend: StorageBackend, backend_factory: BackendFactory
) -> None:
    sid = "doc"
    backend.set_state(sid, ORIGIN)
    # The only checkpoint is at 6: rebuilding version 5 (the oldest kept)
    # must start from the origin.
    states = grow(backend, sid, ORIGIN, 1, 8, checkpoint_every=6)
    assert backend.prune_history(sid, 8) == 0
    assert backend.state_at(sid, 0) == ORIGIN
    assert backend.prune_history(sid, 4) == 4
    assert backend.get_version(sid, 5).checkpoint == states[5]
    for reader in (backend, backend_factory()):
        for n in range(5, 9):
            assert reader.state_at(sid, n) == states[n], f"state_at({n})"
        assert reader.get_state(sid) == states[8]
        for n in range(0, 5):
            with pytest.raises(NotFoundError) as exc:
                reader.state_at(sid, n)
            assert_not_found(exc, "version", sid, n)

    backend.set_state("all", ORIGIN)
    states = grow(backend, "all", ORIGIN, 1, 3)
    assert backend.prune_history("all", 0) == 3
    assert backend.state_at("all", 3) == states[3]
    with pytest.raises(NotFoundError) as exc:
        backend.state_at("all", 0)
    assert_not_found(exc, "version", "all", 0)


# ------------------------------------------------------- delete, re-create
def test_delete_and_recreate_resets_the_origin(
    backend: StorageBackend, backend_factory: BackendFactory
) -> None:
    sid = "doc"
    backend.set_state(sid, ORIGIN)
    grow(backend, sid, ORIGIN, 1, 2, checkpoint_every=2)
    backend.delete_state(sid)
    states = grow(backend, sid, {}, 1, 2, checkpoint_every=2)
    assert_time_travel(backend, sid, states)
    assert_time_travel(backend_factory(), sid, states)
    backend.delete_state(sid)
    backend.set_state(sid, {"again": True})
    states = grow(backend, sid, {"again": True}, 1, 2, checkpoint_every=1)
    assert_time_travel(backend, sid, states)


# ------------------------------------------------------- persistent store
def test_persistent_store_on_a_set_state_created_state(
    backend: StorageBackend, backend_factory: BackendFactory
) -> None:
    # The plausible flow: initialize a thread with set_state, then let a
    # PersistentStateStore write versions, with a checkpoint every 3.
    sid = "thread"
    backend.set_state(sid, ORIGIN)
    options = StoreOptions(checkpoint_interval=3)
    with PersistentStateStore(backend, sid, options=options) as store:
        seen = [store.get_state()]
        for i in range(1, 8):
            store.set(f"/k{i}", i)
            seen.append(store.get_state())
    carried = [v.number for v in backend.get_versions(sid) if v.checkpoint is not None]
    assert carried == [3, 6]
    assert seen[0] == ORIGIN
    assert_time_travel(backend, sid, seen)
    # Reopened from storage: the store rebuilds the same state and history.
    with PersistentStateStore(backend_factory(), sid, options=options) as again:
        assert again.get_state() == seen[-1]
        assert [again.state_at(n) for n in range(len(seen))] == seen
