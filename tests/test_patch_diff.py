"""diff, plus property tests of the whole engine over random JSON documents.

Properties: ``apply_patch(a, diff(a, b))`` equals ``b``; ``apply_patch`` never
mutates its input (compared with a deep copy taken before); a patch whose last
operation fails raises with that index and changes nothing; untouched subtrees
are shared; results agree with the ``jsonpatch`` library on valid patches.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agui_state.errors import PatchError
from agui_state.patch import apply_patch, diff, format_pointer, json_equal

# --- strategies ----------------------------------------------------------------

KEYS = st.text(max_size=5) | st.sampled_from(
    ["", "/", "~", "~0", "~1", "a/b", "m~n", "-", "0", "01"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, 1.0, -0.0, 2.5])
    | st.text(max_size=6)
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=20,
)
DOCS = st.dictionaries(KEYS, JSON, max_size=5)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutate(data: st.DataObject, value: Any) -> Any:
    """Draw a value resembling ``value``: some parts kept, edited, dropped or added."""
    choice = data.draw(st.integers(0, 9))
    if choice == 0:
        return data.draw(JSON)
    if choice == 1 and isinstance(value, (int, float)) and not isinstance(value, bool):
        # The same number as another type, or a bool: JSON-equal or not, diff must tell.
        as_int = int(value) if float(value).is_integer() else 1
        return data.draw(st.sampled_from([float(value), as_int, value == 1, value == 0]))
    if choice <= 4:
        return copy.deepcopy(value)
    if isinstance(value, dict):
        out = {k: mutate(data, v) for k, v in value.items() if data.draw(st.integers(0, 4)) > 0}
        for key in data.draw(st.lists(KEYS, max_size=2)):
            out[key] = data.draw(JSON)
        return out
    if isinstance(value, list):
        items = [mutate(data, v) for v in value if data.draw(st.integers(0, 4)) > 0]
        for _ in range(data.draw(st.integers(0, 2))):
            items.insert(data.draw(st.integers(0, len(items))), data.draw(JSON))
        return items
    return data.draw(JSON)


def all_pointers(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every location in ``doc`` (as token tuples), the root first."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(all_pointers(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.extend(all_pointers(value, (*prefix, str(index))))
    return out


def random_op(data: st.DataObject, doc: Any, ops: list[str]) -> dict[str, Any]:
    """Draw an operation on ``doc``; it may or may not apply."""
    pointers = all_pointers(doc)
    name = data.draw(st.sampled_from(ops))
    tokens = data.draw(st.sampled_from(pointers))
    if name in ("add", "copy", "move") and data.draw(st.booleans()):
        tokens = (*tokens, data.draw(st.sampled_from(["-", "0", "new", "1"])))
    op: dict[str, Any] = {"op": name, "path": format_pointer(tokens)}
    if name in ("add", "replace", "test"):
        op["value"] = data.draw(JSON)
    if name in ("move", "copy"):
        op["from"] = format_pointer(data.draw(st.sampled_from(pointers)))
    return op


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal with the same types everywhere (1 vs 1.0 vs True all differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


# --- diff: examples --------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 1.0}, []),
        ({"a": True}, {"a": 1}, [{"op": "replace", "path": "/a", "value": 1}]),
        ({"a": 0}, {"a": False}, [{"op": "replace", "path": "/a", "value": False}]),
        ({"a": 1}, {}, [{"op": "remove", "path": "/a"}]),
        ({}, {"a/b": {"~": 1}}, [{"op": "add", "path": "/a~1b", "value": {"~": 1}}]),
        (
            {"x": {"y": 1, "z": 2}},
            {"x": {"y": 1, "z": 3}},
            [{"op": "replace", "path": "/x/z", "value": 3}],
        ),
        ([1, 2, 3], [1, 2, 3, 4], [{"op": "add", "path": "/3", "value": 4}]),
        ([1, 2, 3], [0, 1, 2, 3], [{"op": "add", "path": "/0", "value": 0}]),
        ([1, 2, 3], [1, 3], [{"op": "remove", "path": "/1"}]),
        (
            [{"id": 1, "n": "a"}],
            [{"id": 1, "n": "b"}],
            [{"op": "replace", "path": "/0/n", "value": "b"}],
        ),
        ({"a": [1]}, {"a": {"0": 1}}, [{"op": "replace", "path": "/a", "value": {"0": 1}}]),
        (1, "1", [{"op": "replace", "path": "", "value": "1"}]),
    ],
)
def test_diff_examples(a: Any, b: Any, expected: list[dict[str, Any]]) -> None:
    assert diff(a, b) == expected
    assert json_equal(apply_patch(a, diff(a, b)), b)


def test_diff_of_lists_uses_a_common_subsequence() -> None:
    a = ["keep1", "drop", "keep2", "keep3"]
    b = ["new", "keep1", "keep2", "keep3", "tail"]
    patch = diff(a, b)
    assert len(patch) == 3  # add "new", remove "drop", add "tail"
    assert apply_patch(a, patch) == b


def test_diff_of_long_lists_stays_correct_without_lcs() -> None:
    a = list(range(200))
    b = [x * 2 for x in range(150)] + ["end"]
    assert apply_patch(a, diff(a, b)) == b


def test_diff_values_are_copies_of_b() -> None:
    b: dict[str, Any] = {"a": {"x": [1]}}
    patch = diff({}, b)
    b["a"]["x"].append(2)
    assert patch == [{"op": "add", "path": "/a", "value": {"x": [1]}}]


def test_diff_skips_shared_subtrees() -> None:
    shared = {"big": list(range(1000))}
    a = {"s": shared, "v": 1}
    b = {"s": shared, "v": 2}
    assert diff(a, b) == [{"op": "replace", "path": "/v", "value": 2}]


# --- properties ------------------------------------------------------------------


@PROPERTY
@given(st.data())
def test_apply_of_diff_gives_b(data: st.DataObject) -> None:
    a = data.draw(DOCS)
    b = mutate(data, a) if data.draw(st.booleans()) else data.draw(JSON)
    a_before = copy.deepcopy(a)
    b_before = copy.deepcopy(b)
    patch = diff(a, b)
    result = apply_patch(a, patch)
    assert json_equal(result, b)
    assert strictly_equal(a, a_before)
    assert strictly_equal(b, b_before)
    assert {op["op"] for op in patch} <= {"add", "remove", "replace"}


@PROPERTY
@given(DOCS)
def test_diff_of_equal_documents_is_empty(a: dict[str, Any]) -> None:
    assert diff(a, a) == []
    assert diff(a, copy.deepcopy(a)) == []


@PROPERTY
@given(st.data())
def test_apply_never_mutates_its_input(data: st.DataObject) -> None:
    doc = data.draw(DOCS)
    before = copy.deepcopy(doc)
    patch = [
        random_op(data, doc, ["add", "remove", "replace", "move", "copy", "test"])
        for _ in range(data.draw(st.integers(1, 4)))
    ]
    patch_before = copy.deepcopy(patch)
    try:
        result = apply_patch(doc, patch)
    except PatchError:
        result = None
    event("failed" if result is None else "applied")
    assert strictly_equal(doc, before)
    assert strictly_equal(patch, patch_before)
    if result is not None:
        # The result must not alias the patch's values either.
        result_before = copy.deepcopy(result)
        for op in patch:
            if isinstance(op.get("value"), (dict, list)):
                op["value"].clear()
        assert strictly_equal(result, result_before)


ALWAYS_FAILS: list[dict[str, Any]] = [
    {"op": "remove", "path": ""},
    {"op": "replace", "path": "/\x00absent/x", "value": 1},
    {"op": "test", "path": "", "value": {"\x00sentinel": [None]}},
    {"op": "move", "from": "", "path": "/x"},
    {"op": "copy", "from": "/\x00absent", "path": "/x"},
]


@PROPERTY
@given(st.data())
def test_a_failing_last_op_changes_nothing(data: st.DataObject) -> None:
    a = data.draw(DOCS)
    b = mutate(data, a)
    patch = [*diff(a, b), data.draw(st.sampled_from(ALWAYS_FAILS))]
    before = copy.deepcopy(a)
    with pytest.raises(PatchError) as info:
        apply_patch(a, patch)
    assert info.value.index == len(patch) - 1
    assert info.value.op == patch[-1]["op"]
    assert strictly_equal(a, before)


@PROPERTY
@given(st.data())
def test_one_replace_shares_everything_off_its_path(data: st.DataObject) -> None:
    doc = data.draw(DOCS)
    tokens = data.draw(st.sampled_from(all_pointers(doc)))
    result = apply_patch(doc, [{"op": "replace", "path": format_pointer(tokens), "value": "NEW"}])
    old, new = doc, result
    for depth, token in enumerate(tokens):
        assert new is not old  # a container on the path: copied
        keys = old.keys() if isinstance(old, dict) else range(len(old))
        for key in keys:
            if str(key) != token:
                assert new[key] is old[key]
        key_on_path: Any = token if isinstance(old, dict) else int(token)
        old, new = old[key_on_path], new[key_on_path]
        if depth == len(tokens) - 1:
            assert new == "NEW"


@PROPERTY
@given(st.data())
def test_agrees_with_jsonpatch_on_valid_patches(data: st.DataObject) -> None:
    doc = data.draw(DOCS)
    # No "test": jsonpatch compares with Python ==, where True == 1.
    patch = [random_op(data, doc, ["add", "remove", "replace", "move", "copy"])]
    try:
        expected = jsonpatch.apply_patch(doc, patch)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
        expected = PatchError
    try:
        result = apply_patch(doc, patch)
    except PatchError:
        result = PatchError
    event("both failed" if expected is PatchError else "both applied")
    if expected is PatchError or result is PatchError:
        assert result is expected, (patch, result, expected)
    else:
        assert strictly_equal(result, expected)
