"""JSON Patch (RFC 6902) application: semantics, errors, atomicity, structural sharing."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest

from agui_state.errors import PatchError
from agui_state.patch import apply_patch, json_equal

# --- RFC 6902 Appendix A, written from the behaviour the RFC describes ------


@pytest.mark.parametrize(
    ("doc", "patch", "expected"),
    [
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"baz": "qux", "foo": "bar"},
            id="A.1 adding an object member",
        ),
        pytest.param(
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
            id="A.2 adding an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "remove", "path": "/baz"}],
            {"foo": "bar"},
            id="A.3 removing an object member",
        ),
        pytest.param(
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
            id="A.4 removing an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
            id="A.5 replacing a value",
        ),
        pytest.param(
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
            id="A.6 moving a value",
        ),
        pytest.param(
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
            id="A.7 moving an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
            id="A.8 testing a value: success",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
            id="A.10 adding a nested member object",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
            id="A.11 ignoring unrecognized elements",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": 10}],
            {"/": 9, "~1": 10},
            id="A.14 ~ escape ordering",
        ),
        pytest.param(
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
            id="A.16 adding an array value",
        ),
    ],
)
def test_rfc6902_appendix_a(doc: Any, patch: list[dict[str, Any]], expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert apply_patch(doc, patch) == expected
    assert doc == before


@pytest.mark.parametrize(
    ("doc", "patch", "fragment"),
    [
        pytest.param(
            {"baz": "qux"},
            [{"op": "test", "path": "/baz", "value": "bar"}],
            "test failed: expected 'bar', found 'qux'",
            id="A.9 testing a value: error",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz/bat", "value": "qux"}],
            "member 'baz' not found",
            id="A.12 adding to a nonexistent target",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": "10"}],
            "test failed: expected '10', found 10",
            id="A.15 comparing strings and numbers",
        ),
    ],
)
def test_rfc6902_appendix_a_errors(doc: Any, patch: list[dict[str, Any]], fragment: str) -> None:
    # (A.13, an operation with two "op" members, cannot be written as a Python dict.)
    before = copy.deepcopy(doc)
    with pytest.raises(PatchError) as info:
        apply_patch(doc, patch)
    assert info.value.index == 0
    assert info.value.op == patch[0]["op"]
    assert info.value.path == patch[0]["path"]
    assert fragment in info.value.reason
    assert doc == before


# --- each operation: success and failure ------------------------------------

DOC: dict[str, Any] = {"obj": {"a": 1, "b": [1, 2, 3]}, "arr": [10, 20, 30], "s": "text"}


def apply(patch: list[dict[str, Any]], doc: Any = None) -> Any:
    return apply_patch(DOC if doc is None else doc, patch)


def fails(
    patch: list[dict[str, Any]], fragment: str, doc: Any = None, index: int = 0
) -> PatchError:
    before = copy.deepcopy(DOC if doc is None else doc)
    with pytest.raises(PatchError) as info:
        apply(patch, doc)
    assert fragment in info.value.reason, info.value.reason
    assert info.value.index == index
    assert (DOC if doc is None else doc) == before
    return info.value


def test_add_member_replaces_existing_member() -> None:
    assert apply([{"op": "add", "path": "/s", "value": 5}])["s"] == 5


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/arr/0", [9, 10, 20, 30]),
        ("/arr/3", [10, 20, 30, 9]),  # index == length is an append
        ("/arr/-", [10, 20, 30, 9]),
    ],
)
def test_add_to_array(path: str, expected: list[int]) -> None:
    assert apply([{"op": "add", "path": path, "value": 9}])["arr"] == expected


def test_add_to_empty_array_and_nested_dash() -> None:
    doc = {"a": []}
    assert apply_patch(doc, [{"op": "add", "path": "/a/-", "value": 1}]) == {"a": [1]}
    assert apply_patch(doc, [{"op": "add", "path": "/a/0", "value": 1}]) == {"a": [1]}


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/arr/4", "index 4 out of range (length 3)"),
        ("/arr/01", "invalid array index '01'"),
        ("/arr/-1", "invalid array index '-1'"),
        ("/arr/+1", "invalid array index '+1'"),
        ("/arr/ 1", "invalid array index ' 1'"),
        ("/arr/1a", "invalid array index '1a'"),
        ("/arr/-/x", "only valid as the target of 'add'"),
        ("/missing/x", "member 'missing' not found"),
        ("/s/x", "cannot look up 'x' in a str value"),
        ("/obj/a/x", "cannot look up 'x' in a int value"),
        ("/arr/0/x", "cannot look up 'x' in a int value"),
    ],
)
def test_add_failures(path: str, fragment: str) -> None:
    error = fails([{"op": "add", "path": path, "value": 1}], fragment)
    assert error.op == "add"
    assert error.path == path


def test_add_at_root_replaces_the_document() -> None:
    assert apply([{"op": "add", "path": "", "value": [1]}]) == [1]


def test_remove() -> None:
    assert apply([{"op": "remove", "path": "/obj/a"}])["obj"] == {"b": [1, 2, 3]}
    assert apply([{"op": "remove", "path": "/arr/2"}])["arr"] == [10, 20]
    assert apply([{"op": "remove", "path": "/obj/b/0"}])["obj"]["b"] == [2, 3]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/obj/zz", "member 'zz' not found in the object at '/obj'"),
        ("/arr/3", "index 3 out of range (length 3)"),
        ("/arr/-", "only valid as the target of 'add'"),
        ("/arr/01", "invalid array index '01'"),
        ("/s/0", "cannot look up '0' in a str value"),
        ("", "cannot remove the document root"),
    ],
)
def test_remove_failures(path: str, fragment: str) -> None:
    fails([{"op": "remove", "path": path}], fragment)


def test_replace() -> None:
    assert apply([{"op": "replace", "path": "/obj/a", "value": {"x": 1}}])["obj"]["a"] == {"x": 1}
    assert apply([{"op": "replace", "path": "/arr/2", "value": None}])["arr"] == [10, 20, None]
    assert apply([{"op": "replace", "path": "", "value": 3}]) == 3


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/obj/zz", "member 'zz' not found"),  # replace never creates a member
        ("/arr/3", "index 3 out of range (length 3)"),
        ("/arr/-", "only valid as the target of 'add'"),
        ("/arr/1a", "invalid array index '1a'"),
    ],
)
def test_replace_failures(path: str, fragment: str) -> None:
    fails([{"op": "replace", "path": path, "value": 1}], fragment)


def test_move_between_objects_and_arrays() -> None:
    result = apply([{"op": "move", "from": "/obj/b", "path": "/arr/1"}])
    assert result == {"obj": {"a": 1}, "arr": [10, [1, 2, 3], 20, 30], "s": "text"}
    result = apply([{"op": "move", "from": "/arr/0", "path": "/arr/-"}])
    assert result["arr"] == [20, 30, 10]


def test_move_onto_itself_is_a_no_op_but_source_must_exist() -> None:
    assert apply([{"op": "move", "from": "/obj/a", "path": "/obj/a"}]) == DOC
    fails([{"op": "move", "from": "/obj/zz", "path": "/obj/zz"}], "from '/obj/zz'")


def test_move_keeps_the_moved_value_by_reference() -> None:
    result = apply([{"op": "move", "from": "/obj/b", "path": "/moved"}])
    assert result["moved"] is DOC["obj"]["b"]


@pytest.mark.parametrize(
    ("source", "target", "fragment"),
    [
        ("/obj", "/obj/b/x", "into its own child"),
        ("/obj", "/obj/c", "into its own child"),
        ("", "/x", "into its own child"),
        ("/obj/zz", "/x", "from '/obj/zz': member 'zz' not found"),
        ("/arr/-", "/x", "only valid as the target of 'add'"),
        ("/arr/3", "/x", "index 3 out of range"),
        ("/obj/a", "/nope/x", "member 'nope' not found"),
        ("/arr/0", "/arr/3", "index 3 out of range (length 2)"),  # path is read after removal
    ],
)
def test_move_failures(source: str, target: str, fragment: str) -> None:
    error = fails([{"op": "move", "from": source, "path": target}], fragment)
    assert error.op == "move"
    assert error.path == target


def test_move_to_a_sibling_with_a_common_name_prefix_is_not_a_child() -> None:
    doc = {"a": 1, "ab": 2}
    assert apply_patch(doc, [{"op": "move", "from": "/a", "path": "/abc"}]) == {"ab": 2, "abc": 1}


def test_copy() -> None:
    result = apply([{"op": "copy", "from": "/obj/b", "path": "/arr/0"}])
    assert result["arr"] == [[1, 2, 3], 10, 20, 30]
    assert result["obj"]["b"] == [1, 2, 3]


def test_copied_value_is_independent_of_its_source_within_one_patch() -> None:
    result = apply(
        [
            {"op": "add", "path": "/obj/b/-", "value": 4},  # /obj/b becomes a private copy
            {"op": "copy", "from": "/obj/b", "path": "/c"},
            {"op": "add", "path": "/c/-", "value": 5},  # must not reach /obj/b
        ]
    )
    assert result["obj"]["b"] == [1, 2, 3, 4]
    assert result["c"] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("source", "target", "fragment"),
    [
        ("/obj/zz", "/x", "from '/obj/zz': member 'zz' not found"),
        ("/arr/-", "/x", "only valid as the target of 'add'"),
        ("/obj/a", "/arr/9", "index 9 out of range (length 3)"),
    ],
)
def test_copy_failures(source: str, target: str, fragment: str) -> None:
    fails([{"op": "copy", "from": source, "path": target}], fragment)


def test_copy_into_its_own_child_is_allowed() -> None:
    result = apply_patch({"a": {"x": 1}}, [{"op": "copy", "from": "/a", "path": "/a/self"}])
    assert result == {"a": {"x": 1, "self": {"x": 1}}}


# --- test: JSON equality ----------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "value"),
    [
        (1, 1.0),
        (1.0, 1),
        (0, -0.0),
        ([1, {"a": 2.0}], [1.0, {"a": 2}]),
        ({"a": [1, 2], "b": None}, {"b": None, "a": [1.0, 2]}),
        (True, True),
        (None, None),
        ("x", "x"),
    ],
)
def test_test_op_uses_json_equality(doc: Any, value: Any) -> None:
    assert apply_patch({"v": doc}, [{"op": "test", "path": "/v", "value": value}]) == {"v": doc}


@pytest.mark.parametrize(
    ("doc", "value"),
    [
        (True, 1),
        (1, True),
        (False, 0),
        (0, False),
        ([True], [1]),
        ({"a": {"b": 0}}, {"a": {"b": False}}),
        ("10", 10),
        ([1, 2], [2, 1]),
        ({"a": 1}, {"a": 1, "b": 2}),
        (None, 0),
        (None, False),
        ([], {}),
    ],
)
def test_test_op_failures(doc: Any, value: Any) -> None:
    fails([{"op": "test", "path": "/v", "value": value}], "test failed", doc={"v": doc})


def test_test_on_missing_path_and_root() -> None:
    fails([{"op": "test", "path": "/zz", "value": 1}], "member 'zz' not found")
    assert apply([{"op": "test", "path": "", "value": copy.deepcopy(DOC)}]) is DOC


# --- malformed operations ---------------------------------------------------


@pytest.mark.parametrize(
    ("op", "fragment", "op_name", "path"),
    [
        ({"path": "/a", "value": 1}, "missing member 'op'", None, "/a"),
        ({"op": 1, "path": "/a"}, "member 'op' must be a string", None, "/a"),
        ({"op": "frobnicate", "path": "/a"}, "unknown op 'frobnicate'", "frobnicate", "/a"),
        ({"op": "add", "value": 1}, "missing member 'path'", "add", None),
        ({"op": "add", "path": 3, "value": 1}, "member 'path' must be a string", "add", None),
        ({"op": "add", "path": None, "value": 1}, "member 'path' must be a string", "add", None),
        ({"op": "add", "path": "a", "value": 1}, "invalid path", "add", "a"),
        ({"op": "add", "path": "/a~2", "value": 1}, "invalid escape '~2'", "add", "/a~2"),
        ({"op": "add", "path": "/a"}, "missing member 'value'", "add", "/a"),
        ({"op": "replace", "path": "/a"}, "missing member 'value'", "replace", "/a"),
        ({"op": "test", "path": "/a"}, "missing member 'value'", "test", "/a"),
        ({"op": "move", "path": "/a"}, "missing member 'from'", "move", "/a"),
        ({"op": "copy", "path": "/a"}, "missing member 'from'", "copy", "/a"),
        ({"op": "move", "from": 1, "path": "/a"}, "member 'from' must be a string", "move", "/a"),
        ({"op": "copy", "from": "x", "path": "/a"}, "invalid from 'x'", "copy", "/a"),
    ],
)
def test_malformed_operation(
    op: dict[str, Any], fragment: str, op_name: str | None, path: str | None
) -> None:
    patch = [{"op": "test", "path": "", "value": {}}, op]
    with pytest.raises(PatchError) as info:
        apply_patch({}, patch)
    assert fragment in info.value.reason
    assert info.value.index == 1
    assert info.value.op == op_name
    assert info.value.path == path
    assert "patch operation 1" in str(info.value)


def test_malformed_operation_is_reported_before_anything_applies() -> None:
    doc = {"a": 1}
    with pytest.raises(PatchError) as info:
        apply_patch(doc, [{"op": "remove", "path": "/zz"}, {"op": "nope", "path": "/a"}])
    assert info.value.index == 1  # the shape check runs over the whole patch first


@pytest.mark.parametrize("op", ["add", 1, None, ["op", "add"]])
def test_operation_must_be_a_mapping(op: Any) -> None:
    with pytest.raises(PatchError, match="an operation must be an object") as info:
        apply_patch({}, [op])
    assert info.value.index == 0


@pytest.mark.parametrize(
    "patch", ["[]", b"[]", {"op": "add", "path": "/a", "value": 1}, None, 3, iter([])]
)
def test_patch_must_be_a_sequence(patch: Any) -> None:
    with pytest.raises(PatchError, match="a patch must be a list of operations") as info:
        apply_patch({}, patch)
    assert info.value.index is None


def test_any_sequence_of_mappings_is_a_patch() -> None:
    from types import MappingProxyType

    patch = (MappingProxyType({"op": "add", "path": "/a", "value": 1}),)
    assert apply_patch({}, patch) == {"a": 1}


def test_empty_patch_returns_the_same_document() -> None:
    assert apply_patch(DOC, []) is DOC


# --- non-JSON values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (float("nan"), "non-finite number nan"),
        (float("inf"), "non-finite number inf"),
        ((1, 2), "tuple is not a JSON value"),
        ({1, 2}, "set is not a JSON value"),
        (b"x", "bytes is not a JSON value"),
        (datetime.datetime(2024, 1, 1), "datetime is not a JSON value"),
        ({1: "a"}, "object key 1 (int) is not a string"),
        ({"a": [1, {"b": object()}]}, "at '/a/1/b' inside the value"),
    ],
)
@pytest.mark.parametrize("op", ["add", "replace", "test"])
def test_non_json_values_are_rejected(op: str, value: Any, fragment: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch({"a": 1}, [{"op": op, "path": "/a", "value": value}])
    assert "value is not JSON" in info.value.reason
    assert fragment in info.value.reason
    assert info.value.index == 0
    assert info.value.op == op


# --- atomicity, immutability, independence from the caller's values ---------


def test_failing_last_op_leaves_document_untouched() -> None:
    doc = {"a": {"b": [1, 2]}, "c": 3}
    before = copy.deepcopy(doc)
    patch = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "remove", "path": "/c"},
        {"op": "replace", "path": "", "value": {}},
        {"op": "test", "path": "/zz", "value": 1},
    ]
    with pytest.raises(PatchError) as info:
        apply_patch(doc, patch)
    assert info.value.index == 3
    assert doc == before
    # And the same document still patches normally afterwards.
    assert apply_patch(doc, patch[:2]) == {"a": {"b": [1, 2, 3]}}


def test_inserted_values_are_copied_from_the_patch() -> None:
    value: dict[str, Any] = {"list": [1], "obj": {"x": 1}}
    patch = [
        {"op": "add", "path": "/v", "value": value},
        {"op": "replace", "path": "/w", "value": value},
    ]
    result = apply_patch({"w": 0}, patch)
    value["list"].append(2)
    value["obj"]["x"] = 99
    assert result == {"v": {"list": [1], "obj": {"x": 1}}, "w": {"list": [1], "obj": {"x": 1}}}
    assert result["v"] is not result["w"]


def test_patch_is_not_mutated() -> None:
    patch = [
        {"op": "add", "path": "/a", "value": {"x": [1]}},
        {"op": "add", "path": "/a/x/-", "value": 2},
    ]
    before = copy.deepcopy(patch)
    apply_patch({}, patch)
    assert patch == before


# --- structural sharing -------------------------------------------------------


def big_doc() -> dict[str, Any]:
    return {
        "users": [{"id": i, "tags": [f"t{i}"], "profile": {"age": i}} for i in range(5)],
        "settings": {"theme": {"dark": True}, "lang": "en"},
        "log": [[i] for i in range(3)],
    }


def test_untouched_subtrees_are_shared_and_touched_containers_are_new() -> None:
    doc = big_doc()
    result = apply_patch(doc, [{"op": "replace", "path": "/users/2/profile/age", "value": 99}])
    assert result["users"][2]["profile"]["age"] == 99
    assert doc["users"][2]["profile"]["age"] == 2
    # Touched containers: new objects.
    assert result is not doc
    assert result["users"] is not doc["users"]
    assert result["users"][2] is not doc["users"][2]
    assert result["users"][2]["profile"] is not doc["users"][2]["profile"]
    # Everything else: the very same objects.
    assert result["settings"] is doc["settings"]
    assert result["log"] is doc["log"]
    assert result["users"][2]["tags"] is doc["users"][2]["tags"]
    for i in (0, 1, 3, 4):
        assert result["users"][i] is doc["users"][i]


@pytest.mark.parametrize(
    ("patch", "touched"),
    [
        ([{"op": "add", "path": "/settings/theme/x", "value": 1}], {"settings"}),
        ([{"op": "remove", "path": "/log/0"}], {"log"}),
        ([{"op": "move", "from": "/log/0", "path": "/settings/moved"}], {"log", "settings"}),
        ([{"op": "copy", "from": "/log/0", "path": "/log/-"}], {"log"}),
        ([{"op": "test", "path": "/log/0", "value": [0]}], set()),
    ],
)
def test_each_op_copies_only_its_path(patch: list[dict[str, Any]], touched: set[str]) -> None:
    doc = big_doc()
    result = apply_patch(doc, patch)
    for key in doc:
        if key in touched:
            assert result[key] is not doc[key], key
        elif key in result:
            assert result[key] is doc[key], key
    if "settings" in touched and patch[0]["op"] == "add":
        assert result["settings"]["theme"] is not doc["settings"]["theme"]
        assert result["settings"]["lang"] == "en"


def test_log_entries_survive_a_copy_op_by_identity() -> None:
    doc = big_doc()
    result = apply_patch(doc, [{"op": "copy", "from": "/log/0", "path": "/log/-"}])
    assert result["log"][1] is doc["log"][1]
    assert result["log"][3] == doc["log"][0]
    assert result["log"][3] is not doc["log"][0]  # a copy, not an alias


class CountingDict(dict[str, Any]):
    """A dict that counts how often it is shallow-copied."""

    copies = 0

    def copy(self) -> CountingDict:  # type: ignore[override]
        CountingDict.copies += 1
        return CountingDict(self)


def test_a_multi_op_patch_copies_each_container_once() -> None:
    CountingDict.copies = 0
    inner = CountingDict({"x": 1})
    doc = CountingDict({"inner": inner, "other": CountingDict({"y": 2})})
    patch = [{"op": "add", "path": f"/inner/k{i}", "value": i} for i in range(10)]
    patch.append({"op": "remove", "path": "/inner/x"})
    result = apply_patch(doc, patch)
    assert CountingDict.copies == 2  # the root and /inner, once each
    assert result["other"] is doc["other"]
    assert result["inner"] == {f"k{i}": i for i in range(10)}
    assert inner == {"x": 1}


def test_results_of_successive_patches_stay_independent() -> None:
    v0 = big_doc()
    v1 = apply_patch(v0, [{"op": "add", "path": "/settings/theme/size", "value": 1}])
    v2 = apply_patch(v1, [{"op": "add", "path": "/settings/theme/size", "value": 2}])
    v2b = apply_patch(v1, [{"op": "remove", "path": "/settings/theme"}])
    assert "size" not in v0["settings"]["theme"]
    assert v1["settings"]["theme"]["size"] == 1
    assert v2["settings"]["theme"]["size"] == 2
    assert "theme" not in v2b["settings"]
    assert json_equal(v1["users"], v0["users"]) and v2["users"] is v0["users"]
