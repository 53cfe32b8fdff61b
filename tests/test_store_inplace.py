"""In-place writes of the store: O(delta) on wide arrays, never visible to anyone holding state.

A store whose current document nobody else references writes into it in
place (``agui_state.patch.apply``'s ``in_place``). These tests pin the three
things that must hold: it really happens (a write into a big list keeps the
list), nobody who holds any part of any state ever sees it change (checked
against a path-copying reference), and an abandoned write is undone exactly,
key order included.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agui_state.errors import LimitExceededError, PatchError, StorageError, ValidationError
from agui_state.models import StateVersion
from agui_state.patch import apply_patch
from agui_state.patch.apply import Applier
from agui_state.patch.ops import parse_patch
from agui_state.store import StateStore, StoreLimits, StoreOptions


def _items_id(store: StateStore) -> int:
    # id() only: holding the list itself would make the store copy it.
    return id(store._head.state["items"])


def _dump(value: Any) -> str:
    """Order-sensitive text of a document (key order is part of what must not change)."""
    return json.dumps(value)


def _wide(items: int = 1000) -> StateStore:
    store = StateStore("wide")
    store.set("", {"items": list(range(items)), "meta": {"a": 1, "b": 2, "c": 3}})
    # The first write copies the path: the initial document is also version 1's delta.
    store.apply_patch([{"op": "add", "path": "/items/-", "value": -1}])
    return store


# ------------------------------------------------------------- it happens
def test_writes_into_an_unshared_list_keep_the_list() -> None:
    store = _wide()
    before = _items_id(store)
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 1}])
    store.apply_patch([{"op": "replace", "path": "/items/3", "value": "x"}])
    store.apply_patch([{"op": "remove", "path": "/items/0"}])
    store.set("/items/5", {"k": 1})
    store.delete("/items/7")
    assert _items_id(store) == before
    assert store.get("/items/2") == "x"
    assert store.version == 7


def test_a_shared_list_is_copied_then_written_in_place_again() -> None:
    store = _wide()
    before = _items_id(store)
    snapshot = store.create_snapshot("s")  # the shelf keeps the very document
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 1}])
    copied = _items_id(store)
    assert copied != before  # the snapshot's list is not written
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 2}])
    assert _items_id(store) == copied  # the copy belongs to the store alone
    assert store.get_snapshot(snapshot.id).state["items"][-1] == -1


def test_a_store_with_a_reading_hook_never_writes_in_place() -> None:
    seen: list[Any] = []
    store: StateStore

    def hook(version: StateVersion) -> None:
        seen.append(store.get_state().get("n"))

    store = StateStore("h", on_version=hook)
    store.set("", {"items": [1, 2, 3], "n": 0})
    store.set("/n", 1)
    before = _items_id(store)
    store.apply_patch(
        [{"op": "add", "path": "/items/-", "value": 4}, {"op": "replace", "path": "/n", "value": 2}]
    )
    assert _items_id(store) != before
    assert seen == [None, 0, 1]  # each hook saw the state as published before its version


# ------------------------------------------------------ holders never see it
def test_every_holder_keeps_what_it_saw() -> None:
    store = StateStore("held")
    store.set("", {"items": [{"n": i} for i in range(50)], "tags": {"x": [1, 2]}})
    holds: list[tuple[Any, str]] = []
    changes: list[Any] = []
    for step in range(30):
        version = store.apply_patch([{"op": "add", "path": "/items/-", "value": {"n": step}}])
        if version.checkpoint is not None:
            # The returned version's checkpoint is the store's document itself.
            holds.append((version.checkpoint, _dump(version.checkpoint)))
        if step % 5 == 0:
            tx = store.transaction()
            holds.append((tx, _dump(tx.get(""))))
        if step == 10:
            # Changes hand out their old and new values lazily, copied when read.
            unsubscribe = store.subscribe(
                "/items", lambda c: changes.append((c, _dump(c.old), _dump(c.new)))
            )
        if step == 20:
            unsubscribe()  # writes go in place again; the kept changes must not see them
        store.apply_patch([{"op": "replace", "path": f"/items/{step}/n", "value": -step}])
        store.apply_patch([{"op": "add", "path": "/tags/x/-", "value": step}])
    for held, text in holds:
        now = held.get("") if not isinstance(held, dict) else held
        assert _dump(now) == text
    assert changes
    for change, old, new in changes:
        assert (_dump(change.old), _dump(change.new)) == (old, new)
        assert old != new
    # Every version is still replayable to what it was.
    reference: dict[str, Any] = {}
    for number in range(1, store.version + 1):
        reference = apply_patch(reference, store.get_version(number).delta)
        assert store.state_at(number) == reference


def test_a_subtree_held_by_a_reader_is_not_written() -> None:
    store = _wide(10)
    store.set("/items/2", {"deep": [1, 2, 3]})
    store.set("/n", 0)
    version_delta = store.get_version(store.version - 1).delta
    # What a reader thread holds while it copies a subtree.
    found = store._head.state["items"][2]["deep"]
    store.apply_patch([{"op": "add", "path": "/items/2/deep/-", "value": 4}])
    assert found == [1, 2, 3]
    assert store.get("/items/2/deep") == [1, 2, 3, 4]
    assert version_delta == [{"op": "replace", "path": "/items/2", "value": {"deep": [1, 2, 3]}}]


# ------------------------------------------------------------------- undo
def _patches_that_fail_late() -> list[list[dict[str, Any]]]:
    return [
        [
            {"op": "add", "path": "/items/-", "value": 9},
            {"op": "remove", "path": "/items/0"},
            {"op": "replace", "path": "/items/1", "value": "r"},
            {"op": "add", "path": "/items/0", "value": "i"},
            {"op": "remove", "path": "/meta/a"},
            {"op": "add", "path": "/meta/z", "value": 1},
            {"op": "replace", "path": "/meta/b", "value": 5},
            {"op": "move", "from": "/meta/c", "path": "/items/2"},
            {"op": "test", "path": "/meta/b", "value": "not 5"},
        ],
        [
            {"op": "copy", "from": "/meta", "path": "/items/-"},
            {"op": "remove", "path": "/meta/b"},
            {"op": "remove", "path": "/nope"},
        ],
        [{"op": "remove", "path": "/meta/b"}, {"op": "replace", "path": "", "value": []}],
    ]


@pytest.mark.parametrize("index", range(3))
def test_a_failing_patch_leaves_the_document_exactly_as_it_was(index: int) -> None:
    store = _wide(20)
    before_id, before = _items_id(store), _dump(store.get_state())
    with pytest.raises((PatchError, ValidationError)):
        store.apply_patch(_patches_that_fail_late()[index])
    assert _dump(store.get_state()) == before
    assert _items_id(store) == before_id
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 1}])
    assert _items_id(store) == before_id  # still written in place afterwards


def test_a_write_over_the_size_limit_is_undone() -> None:
    store = StateStore("big", options=StoreOptions(limits=StoreLimits(max_state_bytes=4_000)))
    store.set("", {"items": list(range(500)), "meta": {"a": 1, "b": 2}})
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 0}])
    before = _dump(store.get_state())
    with pytest.raises(LimitExceededError):
        store.apply_patch(
            [
                {"op": "remove", "path": "/meta/a"},
                {"op": "add", "path": "/items/-", "value": "x" * 3000},
            ]
        )
    assert _dump(store.get_state()) == before


def test_a_refused_version_is_undone() -> None:
    refuse = False

    def hook(version: StateVersion) -> None:
        if refuse:
            raise StorageError("storage said no")

    store = StateStore("refused", on_version=hook, hook_reads_state=False)
    store.set("", {"items": list(range(100)), "meta": {"a": 1, "b": 2}})
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 0}])
    before_id, before = _items_id(store), _dump(store.get_state())
    refuse = True
    with pytest.raises(StorageError):
        store.apply_patch(
            [{"op": "remove", "path": "/meta/a"}, {"op": "add", "path": "/items/0", "value": 7}]
        )
    assert _dump(store.get_state()) == before
    assert store.version == 2
    refuse = False
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 1}])
    assert _items_id(store) == before_id


def test_applier_undo_restores_nested_in_place_writes() -> None:
    doc = {"a": {"b": [1, 2, {"c": 3}]}, "d": 4}
    text = _dump(doc)
    applier = Applier(doc, in_place=True)
    for op in parse_patch(
        [
            {"op": "replace", "path": "/a/b/2/c", "value": 30},
            {"op": "remove", "path": "/d"},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "move", "from": "/a/b/3", "path": "/e"},
        ],
        copy_values=True,
    ):
        applier.run(op)
    assert applier.root is doc
    assert doc == {"a": {"b": [0, 1, 2]}, "e": {"c": 30}}
    applier.undo()
    assert _dump(doc) == text


# ------------------------------------------------------- against a reference
_PATHS = ["/items", "/items/0", "/items/1", "/items/-", "/meta", "/meta/a", "/meta/k", "/items/0/x"]
_VALUES = st.one_of(
    st.integers(-5, 5), st.text(max_size=3), st.just({"x": [1]}), st.just([0, {"y": 1}])
)
_OPS = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
        "path": st.sampled_from(_PATHS),
        "from": st.sampled_from(_PATHS),
        "value": _VALUES,
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_OPS, min_size=1, max_size=4), min_size=1, max_size=25), st.randoms())
def test_in_place_store_matches_path_copying(
    patches: list[list[dict[str, Any]]], rnd: random.Random
) -> None:
    store = StateStore("prop")
    start = {"items": [{"x": [1]}, 2, 3], "meta": {"a": 1, "b": {"c": 2}}}
    store.set("", start)
    reference: Any = json.loads(json.dumps(start))
    holds: list[tuple[Any, str]] = []
    # The history keeps each delta, whose values are also in the document:
    # a later write inside such a value must not change the recorded delta.
    deltas: dict[int, str] = {}
    for patch in patches:
        try:
            expected = apply_patch(reference, patch)
        except PatchError:
            expected = None
        try:
            version = store.apply_patch(patch)
        except (PatchError, LimitExceededError, ValidationError):
            assert expected is None or not isinstance(expected, dict)
        else:
            assert expected is not None
            reference = expected
            deltas[version.number] = _dump(version.delta)
            if version.checkpoint is not None:
                holds.append((version.checkpoint, _dump(version.checkpoint)))
        assert _dump(store.get_state()) == _dump(reference)
        if rnd.random() < 0.3:  # a caller keeps a transaction's view
            tx = store.transaction()
            holds.append((tx, _dump(tx.get(""))))
    for held, text in holds:
        now = held if isinstance(held, dict) else held.get("")
        assert _dump(now) == text
    for number, text in deltas.items():
        assert _dump(store.get_version(number).delta) == text


# ----------------------------------------------------------------- threads
def test_readers_never_see_a_write_half_done() -> None:
    store = StateStore("race")
    store.set("", {"items": [], "count": 0})
    stop = threading.Event()
    torn: list[Any] = []

    def read() -> None:
        while not stop.is_set():
            state = store.get_state()
            if len(state["items"]) != state["count"]:
                torn.append(state)
            items = store.get("/items")
            if items != list(range(len(items))):
                torn.append(items)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for n in range(3000):
            store.apply_patch(
                [
                    {"op": "add", "path": "/items/-", "value": n},
                    {"op": "replace", "path": "/count", "value": n + 1},
                ]
            )
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert not torn
    assert store.get("/count") == 3000


# ------------------------------------------------------------- debuggers
_THRESHOLDS = (
    "import agui_state.patch.apply as a, agui_state.store.state_store as s; "
    "print(a._SOLE_CHILD, s._HELD_BY_HEAD)"
)
_UNDER_A_DEBUGGER = (
    "import sys\n"
    "def tracer(frame, event, arg):\n"
    "    frame.f_locals  # what pdb and debugpy do: a reference to every local\n"
    "    return tracer\n"
    "sys.settrace(tracer)\n"
)


def _thresholds(prelude: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", prelude + _THRESHOLDS], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_thresholds_do_not_depend_on_a_debugger_at_import() -> None:
    # Measured under a tracer reading f_locals, they would be one too high:
    # later, untraced, a container held by someone else would look unshared.
    assert _thresholds(_UNDER_A_DEBUGGER) == _thresholds("")


def test_writes_under_a_debugger_still_never_reach_holders() -> None:
    def tracer(frame: Any, event: str, arg: Any) -> Any:
        frame.f_locals  # what pdb and debugpy do
        return tracer

    store = _wide(50)
    held = store.transaction()
    text = _dump(held.get(""))
    sys.settrace(tracer)
    try:
        store.apply_patch([{"op": "add", "path": "/items/-", "value": 1}])
        store.apply_patch([{"op": "add", "path": "/items/-", "value": 2}])
    finally:
        sys.settrace(None)
    assert _dump(held.get("")) == text
    assert store.get("/items")[-2:] == [1, 2]


# ------------------------------------------------------- version followers
def test_a_version_follower_keeps_writes_in_place() -> None:
    store = _wide(100)
    seen: list[StateVersion] = []
    unsubscribe = store.subscribe_versions(seen.append)
    before = _items_id(store)
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 1}])
    store.apply_patch([{"op": "test", "path": "/items/0", "value": 0}])  # changes nothing
    assert _items_id(store) == before
    assert [v.number for v in seen] == [3, 4]
    assert seen[0].delta == [{"op": "add", "path": "/items/-", "value": 1}]
    seen[0].delta.clear()  # a private copy
    assert store.get_version(3).delta == [{"op": "add", "path": "/items/-", "value": 1}]
    # A subscriber of values needs the state before each write: copies again.
    changes: list[tuple[Any, Any]] = []
    stop = store.subscribe("/items/0", lambda c: changes.append((c.old, c.new)))
    store.apply_patch([{"op": "replace", "path": "/items/0", "value": "zero"}])
    assert _items_id(store) != before
    assert changes == [(0, "zero")]
    stop()
    unsubscribe()
    unsubscribe()  # idempotent
    store.apply_patch([{"op": "add", "path": "/items/-", "value": 2}])
    assert [v.number for v in seen] == [3, 4, 5]


def test_a_live_agui_stream_keeps_writes_in_place() -> None:
    from agui_state.agui import stream_events

    store = _wide(1000)
    before = _items_id(store)
    with stream_events(store, until_version=store.version + 3) as stream:
        first = next(stream)  # the baseline snapshot
        for n in range(3):
            store.apply_patch([{"op": "add", "path": "/items/-", "value": n}])
        rest = list(stream)
    assert _items_id(store) == before
    assert type(first).__name__ == "StateSnapshotEvent"
    deltas = [e for e in rest if type(e).__name__ == "StateDeltaEvent"]
    assert [[op.model_dump() for op in d.delta] for d in deltas] == [
        [{"op": "add", "path": "/items/-", "value": n}] for n in range(3)
    ]


# ------------------------------------------------------------ transactions
def test_a_transaction_copies_once_then_writes_its_own_view_in_place() -> None:
    store = _wide(1000)
    store_text = _dump(store.get_state())
    tx = store.transaction()
    tx.apply([{"op": "add", "path": "/items/-", "value": "a"}])
    mine = id(tx._state["items"])
    assert mine != _items_id(store)  # the first write copied the shared list
    for n in range(5):
        tx.apply([{"op": "add", "path": "/items/-", "value": n}])
    assert id(tx._state["items"]) == mine  # later writes went in place
    assert _dump(store.get_state()) == store_text  # the store saw nothing
    before = _dump(tx.get(""))
    with pytest.raises(PatchError):
        tx.apply(
            [{"op": "remove", "path": "/items/0"}, {"op": "test", "path": "/meta/a", "value": 0}]
        )
    assert _dump(tx.get("")) == before  # a failed write is undone in the view
    version = tx.commit()
    assert version is not None
    assert store.get("/items")[-6:] == ["a", 0, 1, 2, 3, 4]


def test_a_writer_never_waits_for_a_reader() -> None:
    store = _wide(100)
    before = _items_id(store)
    reading, done = threading.Event(), threading.Event()

    def slow_reader() -> None:
        with store._doc_lock:  # what get_state holds while it copies
            reading.set()
            done.wait(10)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    try:
        assert reading.wait(10)
        store.apply_patch([{"op": "add", "path": "/items/-", "value": 1}])  # does not block
        assert _items_id(store) != before  # path-copied instead
    finally:
        done.set()
        reader.join()
    assert store.get("/items")[-1] == 1
