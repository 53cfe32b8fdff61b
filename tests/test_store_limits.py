"""StateStore limits on every write path, and the O(delta) size estimate."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agui_state.store.sizing as sizing
from agui_state.errors import LimitExceededError, PatchError, StateError, ValidationError
from agui_state.models import StateSnapshot, StateVersion
from agui_state.store import StateStore
from agui_state.store.limits import StoreLimits, StoreOptions


def make(**limits: int) -> StateStore:
    return StateStore("lim", options=StoreOptions(limits=StoreLimits(**limits)))


def compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def expect_limit(call: Any, limit: str) -> LimitExceededError:
    with pytest.raises(LimitExceededError) as info:
        call()
    assert info.value.limit == limit
    assert info.value.value > info.value.maximum
    return info.value


def test_limits_leave_the_state_unchanged_on_every_write_path() -> None:
    store = make(max_string_bytes=8)
    store.set("/ok", "fine")
    snap = StateSnapshot("big", "lim", 0, datetime.now(UTC), {"s": "x" * 9})
    attempts = [
        lambda: store.set("/s", "x" * 9),
        lambda: store.apply_patch([{"op": "add", "path": "/s", "value": "x" * 9}]),
        lambda: store.restore_snapshot(snap),
        lambda: store.load_history(0, {"s": "x" * 9}, []),
    ]
    for attempt in attempts:
        expect_limit(attempt, "max_string_bytes")
        assert store.get_state() == {"ok": "fine"} and store.version == 1
    with store.transaction() as tx:
        expect_limit(lambda: tx.set("/s", "x" * 9), "max_string_bytes")
    assert store.version == 1


# ----------------------------------------------------------------- each limit
def test_max_ops_per_patch() -> None:
    store = make(max_ops_per_patch=2)
    store.apply_patch(
        [{"op": "add", "path": "/a", "value": 1}, {"op": "add", "path": "/b", "value": 2}]
    )
    err = expect_limit(
        lambda: store.apply_patch([{"op": "add", "path": f"/k{i}", "value": i} for i in range(3)]),
        "max_ops_per_patch",
    )
    assert (err.value, err.maximum) == (3, 2)
    assert store.version == 1


def test_max_depth_counts_the_path_and_the_value() -> None:
    store = make(max_depth=4)  # the root object is depth 1
    store.set("/a", nested(3))  # root + 3 lists
    err = expect_limit(lambda: store.set("/b", nested(4)), "max_depth")
    assert err.path is not None and err.path.startswith("/b")
    store.set("/c/d", nested(2))  # root, c, 2 lists
    expect_limit(lambda: store.set("/c/e", nested(3)), "max_depth")
    expect_limit(lambda: store.set("/c/d/0/0", [1]), "max_depth")
    expect_limit(
        lambda: store.apply_patch([{"op": "add", "path": "/x", "value": nested(4)}]), "max_depth"
    )
    assert store.get_state() == {"a": nested(3), "c": {"d": nested(2)}}


def test_max_depth_applies_to_moved_and_copied_values() -> None:
    store = make(max_depth=4)
    store.set("", {"deep": nested(2), "box": {"inner": {}}})
    expect_limit(
        lambda: store.apply_patch([{"op": "copy", "from": "/deep", "path": "/box/inner/x"}]),
        "max_depth",
    )
    expect_limit(
        lambda: store.apply_patch([{"op": "move", "from": "/deep", "path": "/box/inner/x"}]),
        "max_depth",
    )
    store.apply_patch([{"op": "copy", "from": "/deep", "path": "/box/x"}])
    assert store.get("/box/x") == nested(2)


def test_absurdly_deep_or_circular_input_fails_fast_without_recursion_error() -> None:
    store = make()
    circular: list[Any] = []
    circular.append(circular)
    for value in (nested(100_000), circular):
        expect_limit(lambda v=value: store.set("/v", v), "max_depth")
        expect_limit(
            lambda v=value: store.apply_patch([{"op": "add", "path": "/v", "value": v}]),
            "max_depth",
        )
        with pytest.raises(ValidationError):
            store.set("/v", 1, metadata={"m": value})
    assert store.version == 0


def test_max_key_bytes_counts_utf8_bytes() -> None:
    store = make(max_key_bytes=4)
    store.set("/abcd", 1)
    store.set("/ü", {"éé": 1})  # 2 and 4 bytes
    expect_limit(lambda: store.set("/abcde", 1), "max_key_bytes")
    err = expect_limit(lambda: store.set("/ok", {"ééé": 1}), "max_key_bytes")
    assert err.value == 6 and err.path == "/ok/ééé"
    expect_limit(lambda: store.set("/new/abcde/x", 1), "max_key_bytes")
    expect_limit(
        lambda: store.apply_patch([{"op": "copy", "from": "/abcd", "path": "/abcde"}]),
        "max_key_bytes",
    )
    expect_limit(
        lambda: store.apply_patch([{"op": "move", "from": "/abcd", "path": "/abcde"}]),
        "max_key_bytes",
    )
    assert store.version == 2


def test_max_string_bytes_counts_utf8_bytes() -> None:
    store = make(max_string_bytes=6)
    store.set("/s", "ééé")  # 6 bytes
    err = expect_limit(lambda: store.set("/t", {"list": ["ok", "éééé"]}), "max_string_bytes")
    assert (err.value, err.path) == (8, "/t/list/1")
    expect_limit(lambda: store.set("/t", "abcdefg"), "max_string_bytes")
    assert store.version == 1


def test_max_state_bytes_on_each_write_path() -> None:
    store = make(max_state_bytes=30)
    store.set("/a", "x" * 10)  # {"a":"xxxxxxxxxx"} = 18 bytes
    assert store.state_bytes == 18
    expect_limit(lambda: store.set("/b", "y" * 10), "max_state_bytes")
    expect_limit(
        lambda: store.apply_patch([{"op": "copy", "from": "/a", "path": "/b"}]), "max_state_bytes"
    )
    tx = store.transaction()
    tx.set("/b", 1)
    expect_limit(lambda: tx.set("/c", "z" * 10), "max_state_bytes")
    tx.rollback()
    big = StateSnapshot("s", "lim", 0, datetime.now(UTC), {"a": "x" * 40})
    expect_limit(lambda: store.restore_snapshot(big), "max_state_bytes")
    store.delete("/a")
    store.set("/b", "y" * 20)  # fits again once /a is gone
    assert store.get_state() == {"b": "y" * 20}


def test_patch_values_over_a_limit_name_the_operation_path() -> None:
    store = make(max_string_bytes=3)
    err = expect_limit(
        lambda: store.apply_patch(
            [{"op": "add", "path": "/a", "value": 1}, {"op": "add", "path": "/b", "value": "long"}]
        ),
        "max_string_bytes",
    )
    assert err.path == "/b"


def test_loaded_history_is_checked_against_limits() -> None:
    recorded: list[StateVersion] = []
    source = StateStore("lim", on_version=recorded.append)
    source.set("/s", "x" * 20)
    store = make(max_string_bytes=10)
    expect_limit(lambda: store.load_history(0, {}, recorded), "max_string_bytes")
    with pytest.raises(StateError):
        make(max_ops_per_patch=1).load_history(
            0,
            {},
            [
                StateVersion(
                    "v",
                    "lim",
                    1,
                    None,
                    datetime.now(UTC),
                    [{"op": "add", "path": "/a", "value": 1}] * 2,
                )
            ],
        )


# --------------------------------------------------------- the size estimate
def test_small_write_does_not_serialize_the_big_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make()
    big = {"messages": [{"role": "user", "content": "x" * 100} for _ in range(500)]}
    store.set("/big", big)
    measured: list[int] = []
    real = sizing.json_size

    def spy(value: Any) -> int:
        size = real(value)
        measured.append(size)
        return size

    monkeypatch.setattr(sizing, "json_size", spy)
    store.set("/small", 1)
    store.set("/big/messages/-", {"role": "agent", "content": "hi"})
    store.set("/big/messages/3/content", "edited")
    store.apply_patch([{"op": "remove", "path": "/big/messages/0"}])
    assert measured, "the size walk measured nothing"
    assert max(measured) < 200  # never the whole state (~60 kB), only touched values
    assert store.state_bytes == compact_size(store.get_state())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def operations(draw: st.DrawFn, state: Any) -> dict[str, Any]:
    """Draw one operation aimed at paths that exist in ``state`` (it may still fail)."""
    paths = [""]
    stack: list[tuple[str, Any]] = [("", state)]
    while stack:
        ptr, node = stack.pop()
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else []
        )
        for k, v in items:
            p = f"{ptr}/{str(k).replace('~', '~0').replace('/', '~1')}"
            paths.append(p)
            stack.append((p, v))
    kind = draw(st.sampled_from(["add", "replace", "remove", "move", "copy", "add-end", "add-new"]))
    target = draw(st.sampled_from(paths))
    if kind == "add-end":
        return {"op": "add", "path": f"{target}/-", "value": draw(json_values)}
    if kind == "add-new":
        return {
            "op": "add",
            "path": f"{target}/{draw(st.text(max_size=3)).replace('~', '~0').replace('/', '~1')}",
            "value": draw(json_values),
        }
    if kind in ("add", "replace"):
        return {"op": kind, "path": target, "value": draw(json_values)}
    if kind == "remove":
        return {"op": "remove", "path": target}
    return {"op": kind, "from": draw(st.sampled_from(paths)), "path": target}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_size_estimate_equals_the_compact_json_size(data: st.DataObject) -> None:
    store = make()
    store.set("", data.draw(st.dictionaries(st.text(max_size=3), json_values, max_size=4)))
    for _ in range(6):
        patch = [
            data.draw(operations(store.get_state())) for _ in range(data.draw(st.integers(1, 5)))
        ]
        with contextlib.suppress(PatchError, ValidationError):
            store.apply_patch(patch)
        assert store.state_bytes == compact_size(store.get_state())
