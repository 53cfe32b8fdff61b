"""StateStore: reads, writes, versions, history and bad input."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from agui_state.errors import (
    ConfigError,
    InvalidPathError,
    NotFoundError,
    PatchError,
    StateError,
    ValidationError,
)
from agui_state.ids import MAX_STATE_ID_LENGTH, validate_state_id
from agui_state.store import StateStore
from agui_state.store.limits import MAX_DEPTH_CAP, StoreLimits, StoreOptions


@pytest.fixture
def store() -> StateStore:
    return StateStore("thread-1")


def assert_unchanged(store: StateStore, state: dict[str, Any], version: int) -> None:
    assert store.get_state() == state
    assert store.version == version
    assert [v.number for v in store.history(limit=1000)] == list(range(version, 0, -1))


# ------------------------------------------------------------------ creation
def test_new_store_is_empty_at_version_zero() -> None:
    store = StateStore()
    assert store.state_id == "default"
    assert store.version == 0
    assert store.get_state() == {}
    assert store.get() == {}
    assert store.history() == []
    assert store.state_at(0) == {}
    assert store.snapshots() == []
    assert "default" in repr(store)


@pytest.mark.parametrize("bad", ["", None, 7, "a\x00b", "x" * (MAX_STATE_ID_LENGTH + 1)])
def test_invalid_state_id_is_rejected(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        StateStore(bad)
    assert info.value.field == "state_id"


def test_validate_state_id_accepts_any_reasonable_string() -> None:
    for ok in ("t", "ü/../x", "a:b{c}", "x" * MAX_STATE_ID_LENGTH):
        assert validate_state_id(ok) == ok


@pytest.mark.parametrize(
    ("factory", "field"),
    [
        (lambda: StoreOptions(checkpoint_interval=0), "checkpoint_interval"),
        (lambda: StoreOptions(checkpoint_interval=True), "checkpoint_interval"),
        (lambda: StoreOptions(max_history=-1), "max_history"),
        (lambda: StoreOptions(limits="big"), "limits"),  # type: ignore[arg-type]
        (lambda: StoreLimits(max_depth=0), "limits.max_depth"),
        (lambda: StoreLimits(max_depth=MAX_DEPTH_CAP + 1), "limits.max_depth"),
        (lambda: StoreLimits(max_state_bytes=1), "limits.max_state_bytes"),
        (lambda: StoreLimits(max_ops_per_patch=0), "limits.max_ops_per_patch"),
        (lambda: StoreLimits(max_key_bytes=1.5), "limits.max_key_bytes"),  # type: ignore[arg-type]
        (lambda: StoreLimits(max_string_bytes=0), "limits.max_string_bytes"),
    ],
)
def test_invalid_options_name_the_field(factory: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        factory()
    assert info.value.field == field


def test_documented_defaults() -> None:
    opts = StoreOptions()
    assert (opts.checkpoint_interval, opts.max_history) == (100, 10_000)
    assert opts.limits == StoreLimits(16 * 1024 * 1024, 10_000, 64, 1024, 1024 * 1024)
    with pytest.raises(ConfigError):
        StateStore(options={"checkpoint_interval": 5})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- set
def test_set_creates_missing_parent_objects_in_one_operation(store: StateStore) -> None:
    v = store.set("/cart/items", [])
    assert store.get_state() == {"cart": {"items": []}}
    assert v.delta == [{"op": "add", "path": "/cart", "value": {"items": []}}]
    v = store.set("/cart/total", 7.5)
    assert v.delta == [{"op": "add", "path": "/cart/total", "value": 7.5}]
    v = store.set("/cart/total", 8)
    assert v.delta == [{"op": "replace", "path": "/cart/total", "value": 8}]
    assert store.get("/cart") == {"items": [], "total": 8}


def test_set_on_arrays_replaces_or_appends(store: StateStore) -> None:
    store.set("/xs", [1, 2])
    assert store.set("/xs/0", 9).delta[0]["op"] == "replace"
    store.set("/xs/-", 3)
    store.set("/xs/3", 4)  # index == length appends
    assert store.get("/xs") == [9, 2, 3, 4]
    with pytest.raises(InvalidPathError):
        store.set("/xs/9", 0)
    with pytest.raises(InvalidPathError):
        store.set("/xs/01", 0)
    with pytest.raises(InvalidPathError):
        store.set("/xs/7/a", 0)  # missing parent inside an array is not created


def test_set_root_replaces_the_whole_state(store: StateStore) -> None:
    store.set("/a", 1)
    v = store.set("", {"b": 2})
    assert store.get_state() == {"b": 2}
    assert v.delta == [{"op": "replace", "path": "", "value": {"b": 2}}]
    with pytest.raises(ValidationError):
        store.set("", [1, 2])
    assert store.get_state() == {"b": 2}


def test_set_through_a_scalar_fails_and_names_the_path(store: StateStore) -> None:
    store.set("/a", "text")
    with pytest.raises(InvalidPathError) as info:
        store.set("/a/b/c", 1)
    assert info.value.path == "/a/b/c"
    assert_unchanged(store, {"a": "text"}, 1)


@pytest.mark.parametrize("path", ["a", "/a~2", 5, None])
def test_malformed_paths_are_invalid_path_errors(store: StateStore, path: Any) -> None:
    for call in (lambda: store.get(path), lambda: store.set(path, 1), lambda: store.delete(path)):
        with pytest.raises(InvalidPathError):
            call()
    assert store.version == 0


def test_values_are_copied_in_and_out(store: StateStore) -> None:
    value = {"items": [1, 2]}
    v = store.set("/cart", value)
    value["items"].append(3)
    assert store.get("/cart") == {"items": [1, 2]}
    got = store.get("/cart")
    got["items"].append(99)
    store.get_state()["cart"]["items"].append(98)
    v.delta[0]["value"]["items"].append(97)
    assert store.get("/cart") == {"items": [1, 2]}
    assert store.get_version(1).delta == [
        {"op": "add", "path": "/cart", "value": {"items": [1, 2]}}
    ]


# ----------------------------------------------------------------- get/delete
def test_get_missing_or_past_the_end_is_invalid_path(store: StateStore) -> None:
    store.set("/xs", [1])
    for path in ("/nope", "/xs/1", "/xs/-", "/xs/0/deeper"):
        with pytest.raises(InvalidPathError) as info:
            store.get(path)
        assert info.value.path == path
    assert store.get("/xs/0") == 1


def test_delete(store: StateStore) -> None:
    store.set("/a", {"b": 1, "c": 2})
    v = store.delete("/a/b", metadata={"why": "test"})
    assert v.delta == [{"op": "remove", "path": "/a/b"}]
    assert v.metadata == {"why": "test"}
    assert store.get_state() == {"a": {"c": 2}}
    with pytest.raises(InvalidPathError):
        store.delete("/a/b")
    with pytest.raises(InvalidPathError):
        store.delete("")
    assert_unchanged(store, {"a": {"c": 2}}, 2)


# ---------------------------------------------------------------- apply_patch
def test_apply_patch_is_atomic_and_names_the_failing_operation(store: StateStore) -> None:
    store.set("/a", 1)
    patch = [
        {"op": "add", "path": "/b", "value": 2},
        {"op": "remove", "path": "/missing"},
    ]
    with pytest.raises(PatchError) as info:
        store.apply_patch(patch)
    assert (info.value.index, info.value.op, info.value.path) == (1, "remove", "/missing")
    assert_unchanged(store, {"a": 1}, 1)


def test_apply_patch_all_operations(store: StateStore) -> None:
    store.set("", {"a": {"x": 1}, "list": [1, 2, 3]})
    v = store.apply_patch(
        [
            {"op": "test", "path": "/a/x", "value": 1},
            {"op": "copy", "from": "/a", "path": "/b"},
            {"op": "move", "from": "/list/0", "path": "/list/-"},
            {"op": "replace", "path": "/a/x", "value": 2},
            {"op": "remove", "path": "/b/x"},
            {"op": "add", "path": "/list/0", "value": "first"},
        ],
        {"run": "r1"},
    )
    assert store.get_state() == {"a": {"x": 2}, "b": {}, "list": ["first", 2, 3, 1]}
    assert v.metadata == {"run": "r1"}
    assert len(v.delta) == 6


def test_failed_test_operation_changes_nothing(store: StateStore) -> None:
    store.set("/a", 1)
    with pytest.raises(PatchError):
        store.apply_patch(
            [{"op": "replace", "path": "/a", "value": 5}, {"op": "test", "path": "/a", "value": 1}]
        )
    assert_unchanged(store, {"a": 1}, 1)


def test_delta_is_a_clean_copy_of_the_patch(store: StateStore) -> None:
    patch = [{"op": "add", "path": "/a", "value": {"k": [1]}, "comment": "ignored"}]
    v = store.apply_patch(patch)
    patch[0]["value"]["k"].append(2)
    assert v.delta == [{"op": "add", "path": "/a", "value": {"k": [1]}}]
    assert store.get("/a") == {"k": [1]}


def test_empty_patch_still_makes_a_version(store: StateStore) -> None:
    v = store.apply_patch([])
    assert (v.number, v.delta, store.version) == (1, [], 1)


@pytest.mark.parametrize(
    "patch",
    [
        "add",
        None,
        [1],
        [{"op": "nope", "path": "/a"}],
        [{"op": "add"}],
        [{"op": "add", "path": "/a"}],
        [{"op": "move", "path": "/a"}],
    ],
)
def test_malformed_patches_are_patch_errors(store: StateStore, patch: Any) -> None:
    with pytest.raises(PatchError):
        store.apply_patch(patch)
    assert store.version == 0


def test_a_patch_cannot_make_the_root_a_non_object(store: StateStore) -> None:
    with pytest.raises(ValidationError):
        store.apply_patch([{"op": "replace", "path": "", "value": [1]}])
    assert_unchanged(store, {}, 0)


# ------------------------------------------------------------------ non-JSON
NON_JSON = [
    pytest.param(math.nan, id="nan"),
    pytest.param(math.inf, id="inf"),
    pytest.param({1, 2}, id="set"),
    pytest.param(b"bytes", id="bytes"),
    pytest.param(datetime(2024, 1, 1, tzinfo=UTC), id="datetime"),
    pytest.param((1, 2), id="tuple"),
    pytest.param({1: "int key"}, id="non-str-key"),
    pytest.param({"ok": [1, {"deep": object()}]}, id="nested-object"),
]


@pytest.mark.parametrize("value", NON_JSON)
def test_non_json_values_are_rejected_everywhere(store: StateStore, value: Any) -> None:
    store.set("/keep", 1)
    with pytest.raises(ValidationError) as info:
        store.set("/v", value)
    assert info.value.field.startswith("/v")
    with pytest.raises(PatchError) as patch_info:
        store.apply_patch([{"op": "add", "path": "/v", "value": value}])
    assert patch_info.value.path == "/v"
    with pytest.raises(ValidationError) as meta_info:
        store.set("/w", 1, metadata={"m": value})
    assert meta_info.value.field.startswith("metadata")
    with store.transaction() as tx, pytest.raises(StateError):
        tx.set("/v", value)
    assert_unchanged(store, {"keep": 1}, 1)


@pytest.mark.parametrize(
    "write",
    [
        lambda s, m: s.set("/a", 2, metadata=m),
        lambda s, m: s.delete("/a", metadata=m),
        lambda s, m: s.apply_patch([], m),
        lambda s, m: s.create_snapshot("x", m),
        lambda s, m: s.restore_snapshot(s.create_snapshot(), metadata=m),
    ],
)
def test_non_json_metadata_is_rejected_on_every_write(store: StateStore, write: Any) -> None:
    store.set("/a", 1)
    with pytest.raises(ValidationError) as info:
        write(store, {"ok": 1, "bad": {"when": datetime(2024, 1, 1, tzinfo=UTC)}})
    assert info.value.field == "metadata/bad/when"
    assert_unchanged(store, {"a": 1}, 1)


@pytest.mark.parametrize("metadata", [[1], "x", 5])
def test_metadata_must_be_a_dict(store: StateStore, metadata: Any) -> None:
    with pytest.raises(ValidationError) as info:
        store.set("/a", 1, metadata=metadata)
    assert info.value.field == "metadata"
    assert store.version == 0


# ------------------------------------------------------------------ versions
def test_versions_form_a_chain(store: StateStore) -> None:
    before = datetime.now(UTC)
    v1 = store.set("/a", 1)
    v2 = store.set("/a", 2, metadata={"run_id": "r"})
    assert (v1.number, v2.number) == (1, 2)
    assert v1.parent_id is None and v2.parent_id == v1.id
    assert v1.state_id == "thread-1"
    assert v1.timestamp.tzinfo is not None and v1.timestamp >= before
    assert v2.metadata == {"run_id": "r"} and v1.metadata == {}
    assert v1.checkpoint is None
    assert store.get_version(2) == v2
    assert store.get_version(v1.id) == v1


def test_get_version_errors(store: StateStore) -> None:
    store.set("/a", 1)
    for missing in (0, 2, -1, "no-such-id"):
        with pytest.raises(NotFoundError) as info:
            store.get_version(missing)
        assert info.value.item_id == missing
    for bad in (True, 1.0, None):
        with pytest.raises(ValidationError):
            store.get_version(bad)  # type: ignore[arg-type]


def test_history_is_newest_first_and_pages_with_before(store: StateStore) -> None:
    for i in range(10):
        store.set("/i", i)
    assert [v.number for v in store.history()] == list(range(10, 0, -1))
    assert [v.number for v in store.history(limit=3)] == [10, 9, 8]
    assert [v.number for v in store.history(limit=3, before=8)] == [7, 6, 5]
    assert [v.number for v in store.history(limit=50, before=3)] == [2, 1]
    assert store.history(limit=0) == []
    assert store.history(before=1) == []
    assert next(v.number for v in store.history(before=99)) == 10
    for kwargs in ({"limit": -1}, {"limit": "3"}, {"before": -2}, {"limit": True}):
        with pytest.raises(ValidationError):
            store.history(**kwargs)  # type: ignore[arg-type]


def test_state_at_every_version(store: StateStore) -> None:
    expected = [store.get_state()]
    for i in range(7):
        store.set(f"/k{i % 3}", [i])
        expected.append(store.get_state())
    for n, state in enumerate(expected):
        assert store.state_at(n) == state
    got = store.state_at(3)
    got["k0"].append("mutated")
    assert store.state_at(3) == expected[3]
    for bad in (8, -1):
        with pytest.raises(NotFoundError):
            store.state_at(bad)
    with pytest.raises(ValidationError):
        store.state_at("1")  # type: ignore[arg-type]
