"""The store's lean write path: same results as the patch engine, exact sizes, lazy history base.

A write validates and copies the patch in one pass, applies it with the
engine's applier while accounting for sizes per operation, and shares the
prepared values between the delta and the new state. These tests pin down
that none of that changes what a write does.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import multiprocessing
import os
import uuid
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agui_state.errors import (
    LimitExceededError,
    NotFoundError,
    PatchError,
    StateError,
    ValidationError,
)
from agui_state.patch import apply_patch, json_equal
from agui_state.store import StateStore
from agui_state.store.apply import _prepare_checked, _prepare_plain, _Unusual, prepare_patch
from agui_state.store.limits import StoreLimits, StoreOptions
from agui_state.store.versionid import new_version_id
from tests.test_store_limits import json_values, operations


def compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except StateError as exc:
        return type(exc).__name__, str(exc)


# ------------------------------------------------------ same as the engine
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_writes_match_the_patch_engine_exactly(data: st.DataObject) -> None:
    store = StateStore("eq", options=StoreOptions(checkpoint_interval=3))
    store.set("", data.draw(st.dictionaries(st.text(max_size=3), json_values, max_size=4)))
    states = {store.version: store.get_state()}
    for _ in range(5):
        before = store.get_state()
        patch = [data.draw(operations(before)) for _ in range(data.draw(st.integers(1, 5)))]
        expected = outcome(lambda p=patch, b=before: apply_patch(b, p))
        got = outcome(lambda p=patch: store.apply_patch(p))
        if expected[0] == "ok" and not isinstance(expected[1], dict):
            assert got[0] == "ValidationError"  # the root must stay an object
        elif expected[0] == "ok":
            assert got[0] == "ok", got
            assert json_equal(store.get_state(), expected[1])
            assert got[1].delta == [
                {k: op[k] for k in ("op", "path", "value", "from") if k in op} for op in patch
            ]
        else:
            assert got == expected  # same error, same message
        assert store.state_bytes == compact_size(store.get_state())
        states[store.version] = store.get_state()
    for number, state in states.items():  # no write changed an older version
        assert store.state_at(number) == state


def test_a_later_operation_never_writes_into_a_value_recorded_in_the_delta() -> None:
    store = StateStore("shared")
    version = store.apply_patch(
        [
            {"op": "add", "path": "/x", "value": {"a": [1]}},
            {"op": "add", "path": "/x/b", "value": 2},
            {"op": "add", "path": "/x/a/-", "value": 3},
            {"op": "copy", "from": "/x", "path": "/y"},
            {"op": "add", "path": "/y/c", "value": 4},
        ]
    )
    assert store.get_state() == {"x": {"a": [1, 3], "b": 2}, "y": {"a": [1, 3], "b": 2, "c": 4}}
    assert version.delta[0] == {"op": "add", "path": "/x", "value": {"a": [1]}}
    assert store.get_version(1).delta[0]["value"] == {"a": [1]}
    store.apply_patch([{"op": "add", "path": "/x/a/-", "value": 5}])
    assert store.get_version(1).delta[0]["value"] == {"a": [1]}
    assert store.state_at(1) == {"x": {"a": [1, 3], "b": 2}, "y": {"a": [1, 3], "b": 2, "c": 4}}
    assert store.state_bytes == compact_size(store.get_state())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_transactions_keep_the_size_exact(data: st.DataObject) -> None:
    store = StateStore("tx")
    store.set("", data.draw(st.dictionaries(st.text(max_size=3), json_values, max_size=4)))
    with store.transaction() as tx:
        for _ in range(data.draw(st.integers(1, 6))):
            current = tx.get()
            action = data.draw(st.sampled_from(["patch", "set", "delete"]))
            with contextlib.suppress(PatchError, ValidationError, StateError):
                if action == "patch":
                    tx.apply([data.draw(operations(current))])
                elif action == "set":
                    key = data.draw(st.text(max_size=3)).replace("~", "~0").replace("/", "~1")
                    tx.set(f"/{key}/n", data.draw(json_values))
                else:
                    tx.delete(data.draw(st.sampled_from(["/" + k for k in current] or ["/x"])))
    assert store.state_bytes == compact_size(store.get_state())


def test_moves_keep_the_size_exact_at_any_depth() -> None:
    store = StateStore("mv")
    store.set("", {"a": {"b": {"c": [1, {"d": "é"}]}}, "list": [1, 2, 3], "k": "v"})
    patches = [
        [{"op": "move", "from": "/a/b/c/1", "path": "/list/0"}],
        [{"op": "move", "from": "/list/0", "path": "/list/3"}],
        [{"op": "move", "from": "/k", "path": "/a/b/k"}],
        [{"op": "move", "from": "/a/b/k", "path": "/a/b/c"}],  # onto an existing member
        [{"op": "move", "from": "/a/b", "path": "/a/b"}],  # onto itself
        [{"op": "move", "from": "/list", "path": "/a"}],  # to an ancestor's slot
        [{"op": "move", "from": "/a/2", "path": "/z"}],
        [{"op": "copy", "from": "/z", "path": "/a/-"}],
    ]
    for patch in patches:
        store.apply_patch(patch)
        assert store.state_bytes == compact_size(store.get_state()), patch


def test_a_failing_operation_wins_over_a_depth_violation_before_it() -> None:
    # Reported in the order the engine would have: the patch fails first.
    store = StateStore("order", options=StoreOptions(limits=StoreLimits(max_depth=3)))
    store.set("", {"deep": [[1]], "box": {}})
    move = {"op": "move", "from": "/deep", "path": "/box/deep"}
    with pytest.raises(PatchError) as info:
        store.apply_patch([move, {"op": "remove", "path": "/missing"}])
    assert info.value.index == 1
    with pytest.raises(LimitExceededError):
        store.apply_patch([move])
    assert store.get_state() == {"deep": [[1]], "box": {}} and store.version == 1


# -------------------------------------------- one-pass vs checked preparation
class Color(enum.IntEnum):
    RED = 1


odd_values = st.recursive(
    json_values
    | st.sampled_from([math.nan, math.inf, (1, 2), {1, 2}, b"x", Color.RED, "x" * 40, 10**30]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=12), children, max_size=3)
        | st.dictionaries(st.integers(0, 3), children, min_size=1, max_size=2)
        | st.builds(OrderedDict, st.dictionaries(st.text(max_size=3), children, max_size=2))
    ),
    max_leaves=6,
)

raw_operations = st.one_of(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace", "test"]),
            "path": st.sampled_from(["/a", "/b/0"]),
        },
        optional={"value": odd_values, "extra": st.integers()},
    ),
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["move", "copy", "remove"]),
            "path": st.sampled_from(["/a", "/" + "k" * 12, "/~2", ""]),
        },
        optional={"from": st.sampled_from(["/a", "b", 3, "/x/~1"])},
    ),
    st.sampled_from([None, [], {"op": ["add"], "path": "/a"}, {"op": "nope", "path": "/a"}]),
    st.builds(OrderedDict, st.fixed_dictionaries({"op": st.just("remove"), "path": st.just("/a")})),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_operations, max_size=4), st.integers(2, 4))
def test_one_pass_preparation_accepts_exactly_what_the_checked_one_does(
    patch: list[Any], depth: int
) -> None:
    limits = StoreLimits(max_depth=depth, max_key_bytes=10, max_string_bytes=30)
    checked = outcome(lambda: _prepare_checked(patch, limits, 0))
    try:
        plain = _prepare_plain(patch, limits)
    except _Unusual:
        pass  # left to the checked path
    else:
        assert checked[0] == "ok", checked
        assert plain.delta == checked[1].delta
        assert plain.steps == checked[1].steps
    # And the public entry point always answers as the checked path does.
    public = outcome(lambda: prepare_patch(patch, limits))
    assert public[0] == checked[0]
    if public[0] == "ok":
        assert public[1].delta == checked[1].delta
    else:
        assert public == checked


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        -math.inf,
        (1,),
        {1},
        b"x",
        Color.RED,
        OrderedDict(a=1),
        {1: 2},
        {"k" * 11: 1},  # key over max_key_bytes
        "é" * 16,  # 32 UTF-8 bytes, over max_string_bytes
        [[[1]]],  # too deep at /a (root, list, list, list)
        [1, [2, math.nan]],
        {"a": [{"b": (1,)}]},
    ],
)
def test_unusual_values_take_the_checked_path(value: Any) -> None:
    limits = StoreLimits(max_depth=3, max_key_bytes=10, max_string_bytes=30)
    patch = [{"op": "add", "path": "/a", "value": value}]
    with pytest.raises(_Unusual):
        _prepare_plain(patch, limits)
    public, checked = (
        outcome(lambda: prepare_patch(patch, limits)),
        outcome(lambda: _prepare_checked(patch, limits, 0)),
    )
    assert public[0] == checked[0]
    assert public[1] == checked[1] if public[0] != "ok" else public[1].delta == checked[1].delta


def test_set_accepts_plain_and_unusual_values_alike() -> None:
    store = StateStore("set")
    store.set("/e", Color.RED)
    store.set("/o", OrderedDict(a=[1, 2.5, None, True]))
    with pytest.raises(ValidationError):
        store.set("/t", (1, 2))
    assert store.get_state() == {"e": 1, "o": {"a": [1, 2.5, None, True]}}
    assert store.state_bytes == compact_size(store.get_state())


# ----------------------------------------------------------- returned versions
def test_checkpoint_of_a_write_is_the_state_and_reads_copy_it() -> None:
    store = StateStore("cp", options=StoreOptions(checkpoint_interval=2))
    store.set("/a", {"b": 1})
    written = store.set("/c", [1])
    assert written.checkpoint == {"a": {"b": 1}, "c": [1]} == store.get_state()
    copy = store.get_version(2).checkpoint
    assert copy is not None
    copy["a"]["b"] = "mutated"
    assert store.get_state() == {"a": {"b": 1}, "c": [1]}
    assert store.get_version(2).checkpoint == {"a": {"b": 1}, "c": [1]}
    written.delta[0]["value"].append(2)  # the delta stays private
    assert store.get_version(2).delta == [{"op": "add", "path": "/c", "value": [1]}]


def test_version_ids_are_canonical_random_uuid4s() -> None:
    ids = [new_version_id() for _ in range(2_000)]  # several refills of the random buffer
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def _child_id(conn: Any) -> None:
    conn.send(new_version_id())
    conn.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_repeats_its_parents_version_ids() -> None:
    new_version_id()  # the buffer now holds the next ids
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_child_id, args=(child_end,))
    child.start()
    from_child = parent_end.recv()
    child.join(10)
    assert from_child != new_version_id()


# ------------------------------------------------------------ history window
@pytest.mark.parametrize(
    ("k", "max_history"), [(5, 3), (3, 7), (50, 4), (2, 1), (4, 4), (1, 2), (6, 0)]
)
def test_time_travel_over_the_kept_window_with_a_lazy_base(k: int, max_history: int) -> None:
    store = StateStore("win", options=StoreOptions(checkpoint_interval=k, max_history=max_history))
    states = [store.get_state()]
    for i in range(40):
        store.apply_patch([{"op": "add", "path": f"/k{i % 4}", "value": {"i": i}}])
        states.append(store.get_state())
        oldest = max(store.version - max_history, 0)  # the base, before the oldest kept version
        for n in range(oldest, store.version + 1):
            assert store.state_at(n) == states[n]
        if oldest > 1:
            with pytest.raises(NotFoundError):
                store.state_at(oldest - 1)
        # Dropped versions are folded lazily, but never more than a window's worth.
        assert len(store._history._folded) <= max(max_history, 1)
