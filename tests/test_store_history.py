"""StateStore history: checkpoints, the kept window, time travel, snapshots, hooks."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

import agui_state.store.versions as store_history_module
from agui_state.errors import (
    LimitExceededError,
    NotFoundError,
    StateError,
    StorageError,
    TransactionError,
    ValidationError,
)
from agui_state.models import StateSnapshot, StateVersion
from agui_state.patch import apply_patch
from agui_state.store import StateStore
from agui_state.store.limits import StoreLimits, StoreOptions


def make(k: int = 5, max_history: int | None = None, **limits: int) -> StateStore:
    opts = StoreOptions(
        checkpoint_interval=k, max_history=max_history, limits=StoreLimits(**limits)
    )
    return StateStore("h", options=opts)


def write_many(store: StateStore, n: int) -> list[dict[str, Any]]:
    """Do n varied writes; return the state after each version (index = number)."""
    states = [store.get_state()]
    for i in range(n):
        if i % 4 == 3:
            store.delete(f"/k{(i - 1) % 3}")
        else:
            store.apply_patch(
                [{"op": "add", "path": f"/k{i % 3}", "value": {"i": i, "xs": [i] * (i % 5)}}]
            )
        states.append(store.get_state())
    return states


# --------------------------------------------------------------- checkpoints
def test_checkpoints_only_every_k_versions() -> None:
    store = make(k=4)
    states = write_many(store, 13)
    for v in store.history(limit=100):
        if v.number % 4 == 0:
            assert v.checkpoint == states[v.number]
        else:
            assert v.checkpoint is None


def test_state_at_replays_fewer_than_k_deltas(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make(k=5)
    states = write_many(store, 23)
    replayed: list[int] = []
    real = store_history_module.replay

    def spy(state: Any, versions: list[StateVersion], state_id: str) -> Any:
        replayed.append(len(versions))
        return real(state, versions, state_id)

    monkeypatch.setattr(store_history_module, "replay", spy)
    for n in range(24):
        assert store.state_at(n) == states[n]
    assert replayed and max(replayed) <= 4


# ------------------------------------------------------------ kept window
def test_max_history_keeps_a_window_and_time_travel_inside_it() -> None:
    store = make(k=4, max_history=6)
    states = write_many(store, 15)
    assert [v.number for v in store.history(limit=100)] == list(range(15, 9, -1))
    for n in range(9, 16):  # the kept versions and the base just before them
        assert store.state_at(n) == states[n]
    for n in (1, 5, 8):
        with pytest.raises(NotFoundError) as info:
            store.state_at(n)
        assert (info.value.kind, info.value.item_id) == ("version", n)
        with pytest.raises(NotFoundError):
            store.get_version(n)
    assert store.state_at(0) == {}
    # Parent ids still chain through the window.
    kept = store.history(limit=100)
    assert all(a.parent_id == b.id for a, b in itertools.pairwise(kept))


def test_dropped_versions_cannot_be_found_by_id() -> None:
    store = make(max_history=2)
    first = store.set("/a", 1)
    store.set("/a", 2)
    store.set("/a", 3)
    with pytest.raises(NotFoundError):
        store.get_version(first.id)


def test_max_history_zero_keeps_only_the_current_state() -> None:
    store = make(k=3, max_history=0)
    for i in range(5):
        store.set("/i", i)
    assert store.history() == []
    assert store.version == 5
    assert store.state_at(5) == {"i": 4}
    with pytest.raises(NotFoundError):
        store.state_at(4)


def test_unbounded_history() -> None:
    store = make(k=50, max_history=None)
    states = write_many(store, 120)
    assert len(store.history(limit=1000)) == 120
    assert store.state_at(1) == states[1]


# ------------------------------------------------------------------ snapshots
def test_snapshots_are_listed_fetched_and_private() -> None:
    store = make()
    store.set("/a", [1])
    s1 = store.create_snapshot("one", {"by": "test"})
    store.set("/a", [2])
    s2 = store.create_snapshot()
    assert (s1.version, s1.label, s1.metadata, s1.state) == (1, "one", {"by": "test"}, {"a": [1]})
    assert (s2.version, s2.label, s2.state_id) == (2, None, "h")
    assert [s.id for s in store.snapshots()] == [s1.id, s2.id]
    s1.state["a"].append("mutated")
    assert store.get_snapshot(s1.id).state == {"a": [1]}
    with pytest.raises(NotFoundError):
        store.get_snapshot("nope")
    with pytest.raises(ValidationError):
        store.create_snapshot(label=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        store.create_snapshot(metadata={"x": {1, 2}})


def test_restore_snapshot_is_a_new_version() -> None:
    store = make()
    store.set("/cart", {"items": ["tea"], "total": 3})
    snap = store.create_snapshot("before")
    store.set("/cart/items/-", "milk")
    store.set("/cart/total", 5)
    v = store.restore_snapshot(snap.id, metadata={"by": "user"})
    assert store.get_state() == snap.state
    assert v.number == 4
    assert v.metadata == {"by": "user", "restored_snapshot": snap.id}
    assert apply_patch(store.state_at(3), v.delta) == snap.state
    assert [h.number for h in store.history()] == [4, 3, 2, 1]  # no holes, nothing rewritten
    v2 = store.restore_snapshot(snap)  # by object; nothing to change
    assert v2.delta == [] and v2.number == 5


def test_restore_snapshot_errors_leave_the_store_unchanged() -> None:
    store = make()
    store.set("/a", 1)
    other = StateStore("other")
    foreign = other.create_snapshot()
    with pytest.raises(NotFoundError):
        store.restore_snapshot("missing")
    with pytest.raises(ValidationError):
        store.restore_snapshot(foreign)
    with pytest.raises(ValidationError):
        store.restore_snapshot(42)  # type: ignore[arg-type]
    assert store.version == 1 and store.get_state() == {"a": 1}


def test_restore_of_a_far_away_state_uses_one_root_replace() -> None:
    store = make(max_ops_per_patch=3)
    snap = store.create_snapshot()
    store.set("", {f"k{i}": i for i in range(3)})
    store.set("/k3", 3)
    v = store.restore_snapshot(snap)
    assert v.delta == [{"op": "replace", "path": "", "value": {}}]
    assert store.get_state() == {}


def test_restore_of_an_unknown_snapshot_object_is_validated() -> None:
    store = make(max_string_bytes=10)
    from datetime import UTC, datetime

    ok = StateSnapshot("s-ok", "h", 0, datetime.now(UTC), {"a": "short"})
    store.restore_snapshot(ok)
    assert store.get_state() == {"a": "short"}
    too_big = StateSnapshot("s-big", "h", 0, datetime.now(UTC), {"a": "x" * 11})
    with pytest.raises(LimitExceededError):
        store.restore_snapshot(too_big)
    assert store.get_state() == {"a": "short"}


# ---------------------------------------------------------------------- hooks
class Boom(StorageError):
    pass


def test_on_version_sees_the_version_before_it_is_published() -> None:
    seen: list[tuple[int, int, Any]] = []
    store: StateStore

    def hook(version: StateVersion) -> None:
        seen.append((version.number, store.version, store.get_state()))

    store = StateStore("h", on_version=hook)
    store.set("/a", 1)
    store.set("/a", 2)
    assert seen == [(1, 0, {}), (2, 1, {"a": 1})]


def test_a_failing_on_version_aborts_the_write() -> None:
    fail = {"on": False}
    calls: list[int] = []

    def hook(version: StateVersion) -> None:
        calls.append(version.number)
        if fail["on"]:
            raise Boom("disk full")

    store = StateStore("h", options=StoreOptions(checkpoint_interval=2), on_version=hook)
    changes: list[Any] = []
    store.subscribe("", changes.append)
    store.set("/a", 1)
    fail["on"] = True
    attempts = [
        lambda: store.set("/a", 2),
        lambda: store.delete("/a"),
        lambda: store.apply_patch([{"op": "add", "path": "/b", "value": 1}]),
        lambda: store.restore_snapshot(store.create_snapshot().id),
    ]
    for attempt in attempts:
        with pytest.raises(Boom):
            attempt()
        assert store.version == 1 and store.get_state() == {"a": 1}
        assert [v.number for v in store.history()] == [1]
    with pytest.raises(Boom), store.transaction() as tx:
        tx.set("/c", 1)
    assert store.version == 1
    fail["on"] = False
    v = store.set("/a", 3)
    assert v.number == 2  # the aborted writes consumed no number
    assert v.parent_id == store.get_version(1).id
    assert v.checkpoint == {"a": 3}
    assert len(changes) == 2  # subscribers never heard of the aborted writes
    assert set(calls) == {1, 2}


def test_a_hook_cannot_write_to_its_own_store() -> None:
    store: StateStore

    def hook(version: StateVersion) -> None:
        store.set("/nested", True)

    store = StateStore("h", on_version=hook)
    with pytest.raises(TransactionError):
        store.set("/a", 1)
    assert store.version == 0 and store.get_state() == {}


def test_a_failing_on_snapshot_keeps_no_snapshot() -> None:
    def hook(snapshot: StateSnapshot) -> None:
        raise Boom("no space")

    store = StateStore("h", on_snapshot=hook)
    store.set("/a", 1)
    with pytest.raises(Boom):
        store.create_snapshot("x")
    assert store.snapshots() == []
    assert store.version == 1


# --------------------------------------------------------------- load_history
def recorded_store(
    k: int = 4, n: int = 11
) -> tuple[list[StateVersion], list[StateSnapshot], list[dict[str, Any]]]:
    versions: list[StateVersion] = []
    snaps: list[StateSnapshot] = []
    store = StateStore(
        "h",
        options=StoreOptions(checkpoint_interval=k),
        on_version=versions.append,
        on_snapshot=snaps.append,
    )
    states = write_many(store, n)
    store.create_snapshot("end")
    return versions, snaps, states


def test_load_history_resumes_a_recorded_history() -> None:
    versions, snaps, states = recorded_store()
    fired: list[Any] = []
    hooked: list[Any] = []
    store = StateStore(
        "h",
        options=StoreOptions(checkpoint_interval=3),
        on_version=hooked.append,
        on_snapshot=hooked.append,
    )
    store.subscribe("", fired.append)
    store.load_history(0, {}, versions, snaps)
    assert fired == [] and hooked == []
    assert store.version == 11 and store.get_state() == states[11]
    assert store.state_bytes == len(json.dumps(states[11], separators=(",", ":")))
    for n in range(12):
        assert store.state_at(n) == states[n]
    # Checkpoints follow this store's interval, whatever the writer used.
    assert [v.number for v in store.history(limit=100) if v.checkpoint is not None] == [9, 6, 3]
    assert [s.label for s in store.snapshots()] == ["end"]
    v = store.set("/after", True)
    assert v.number == 12 and v.parent_id == versions[-1].id
    assert len(fired) == 1 and len(hooked) == 1


def test_load_history_from_a_base_and_with_a_window() -> None:
    versions, _, states = recorded_store(n=11)
    store = make(k=4, max_history=3)
    store.load_history(5, states[5], versions[5:])
    assert store.version == 11
    assert [v.number for v in store.history(limit=100)] == [11, 10, 9]
    for n in (8, 9, 10, 11):
        assert store.state_at(n) == states[n]
    with pytest.raises(NotFoundError):
        store.state_at(7)
    empty = make()
    empty.load_history(7, states[7], [])
    assert empty.version == 7 and empty.get_state() == states[7]
    assert empty.set("/z", 1).parent_id is None  # the id of version 7 is unknown


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda vs: vs[1:], ValidationError),  # not starting at base + 1
        (lambda vs: [vs[0], vs[2]], ValidationError),  # a hole
        (lambda vs: [vs[0], "v2"], ValidationError),
        (
            lambda vs: [StateVersion(vs[0].id, "other", 1, None, vs[0].timestamp, vs[0].delta)],
            ValidationError,
        ),
        (
            lambda vs: [
                StateVersion(
                    vs[0].id, "h", 1, None, vs[0].timestamp, [{"op": "remove", "path": "/missing"}]
                )
            ],
            StateError,
        ),
        (lambda vs: [vs[0].with_checkpoint({"wrong": True})], StateError),
        (
            lambda vs: [
                StateVersion(vs[0].id, "h", 1, None, vs[0].timestamp, vs[0].delta, {"bad": {1, 2}})
            ],
            ValidationError,
        ),
    ],
)
def test_load_history_rejects_bad_input_and_keeps_the_store(
    mutate: Any, error: type[Exception]
) -> None:
    versions, _, _ = recorded_store()
    store = make()
    store.set("/mine", 1)
    with pytest.raises(error):
        store.load_history(0, {}, mutate(versions))
    assert store.get_state() == {"mine": 1} and store.version == 1


def test_load_history_reports_damaged_data_as_corrupt() -> None:
    from agui_state.errors import CorruptDataError

    versions, _, _ = recorded_store()
    store = make()
    broken = StateVersion(
        versions[0].id, "h", 1, None, versions[0].timestamp, [{"op": "remove", "path": "/x"}]
    )
    with pytest.raises(CorruptDataError):
        store.load_history(0, {}, [broken])
    with pytest.raises(CorruptDataError):
        store.load_history(0, {}, [versions[0].with_checkpoint({"not": "it"})])


@pytest.mark.parametrize("args", [(-1, {}), (True, {}), (0, [1]), (0, {"n": float("nan")})])
def test_load_history_validates_the_base(args: tuple[Any, Any]) -> None:
    with pytest.raises(ValidationError):
        make().load_history(args[0], args[1], [])


def test_load_history_enforces_limits() -> None:
    store = make(max_string_bytes=4)
    with pytest.raises(LimitExceededError):
        store.load_history(0, {"s": "too long"}, [])
    versions, _, _ = recorded_store()
    small = make(max_state_bytes=30)
    with pytest.raises(LimitExceededError):
        small.load_history(0, {}, versions)
    assert small.version == 0
