"""Patch shape: validate_patch and touched_paths."""

from __future__ import annotations

from typing import Any

import pytest

from agui_state.errors import PatchError
from agui_state.patch import touched_paths, validate_patch

PATCH: list[dict[str, Any]] = [
    {"op": "add", "path": "/a", "value": {"x": [1]}},
    {"op": "remove", "path": "/b/0"},
    {"op": "replace", "path": "/c~1d", "value": None},
    {"op": "move", "from": "/e", "path": "/f"},
    {"op": "copy", "from": "/g", "path": "/h/-"},
    {"op": "test", "path": "/i", "value": 1},
]


def test_validate_patch_returns_the_operations_as_a_new_list_of_dicts() -> None:
    ops = validate_patch(PATCH)
    assert ops == PATCH
    assert ops is not PATCH
    assert all(type(op) is dict for op in ops)


def test_validate_patch_accepts_any_sequence_of_mappings_and_keeps_extra_members() -> None:
    from types import MappingProxyType

    patch = (MappingProxyType({"op": "remove", "path": "/a", "note": "why"}),)
    assert validate_patch(patch) == [{"op": "remove", "path": "/a", "note": "why"}]
    assert validate_patch([]) == []


@pytest.mark.parametrize("patch", ["", "[]", b"[]", bytearray(b"[]"), None, 1, {"op": "add"}])
def test_validate_patch_rejects_non_sequences(patch: Any) -> None:
    with pytest.raises(PatchError) as info:
        validate_patch(patch)
    assert info.value.index is None


@pytest.mark.parametrize(
    ("op", "fragment"),
    [
        ("add", "an operation must be an object"),
        ({"path": "/a"}, "missing member 'op'"),
        ({"op": "ADD", "path": "/a", "value": 1}, "unknown op 'ADD'"),
        ({"op": "add", "value": 1}, "missing member 'path'"),
        ({"op": "remove", "path": ["a"]}, "member 'path' must be a string"),
        ({"op": "remove", "path": "a"}, "invalid path"),
        ({"op": "add", "path": "/a"}, "missing member 'value'"),
        ({"op": "copy", "path": "/a"}, "missing member 'from'"),
        ({"op": "move", "path": "/a", "from": "/~"}, "invalid from '/~'"),
        ({"op": "add", "path": "/a", "value": float("nan")}, "value is not JSON"),
        ({"op": "test", "path": "/a", "value": {"k": (1,)}}, "at '/k' inside the value"),
    ],
)
def test_validate_patch_names_the_bad_operation(op: Any, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        validate_patch([*PATCH, op])
    assert info.value.index == len(PATCH)
    assert fragment in info.value.reason
    assert f"patch operation {len(PATCH)}" in str(info.value)


def test_validate_patch_does_not_look_at_any_document() -> None:
    # Paths that exist nowhere are fine: only the shape is checked.
    assert validate_patch([{"op": "remove", "path": "/no/such/thing/01"}])


def test_touched_paths() -> None:
    assert touched_paths(PATCH) == ["/a", "/b/0", "/c~1d", "/e", "/f", "/h/-"]
    assert touched_paths([]) == []
    assert touched_paths([{"op": "test", "path": "/x", "value": 1}]) == []


def test_touched_paths_keeps_duplicates_in_order() -> None:
    patch = [
        {"op": "replace", "path": "/a", "value": 1},
        {"op": "move", "from": "/a", "path": "/b"},
        {"op": "add", "path": "/a", "value": 2},
    ]
    assert touched_paths(patch) == ["/a", "/a", "/b", "/a"]


def test_touched_paths_rejects_malformed_operations() -> None:
    with pytest.raises(PatchError) as info:
        touched_paths([{"op": "add", "path": "/a", "value": 1}, {"op": "move", "path": "/b"}])
    assert info.value.index == 1
    assert "missing member 'from'" in info.value.reason
