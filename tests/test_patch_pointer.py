"""JSON Pointer (RFC 6901): parsing, formatting, escaping, strict indices, resolve."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agui_state.errors import InvalidPathError
from agui_state.patch import format_pointer, parse_pointer, resolve

# The example document of RFC 6901 section 5.
RFC6901_DOC: dict[str, Any] = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", RFC6901_DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_rfc6901_examples(pointer: str, expected: Any) -> None:
    assert resolve(RFC6901_DOC, pointer) == expected


def test_resolve_returns_the_value_itself_not_a_copy() -> None:
    doc = {"a": {"b": [1, 2]}}
    assert resolve(doc, "/a/b") is doc["a"]["b"]
    assert resolve(doc, "") is doc


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        ("", []),
        ("/", [""]),
        ("//", ["", ""]),
        ("/a/b", ["a", "b"]),
        ("/a~1b", ["a/b"]),
        ("/m~0n", ["m~n"]),
        ("/~01", ["~1"]),  # "~01" is "~" then "1", never "/"
        ("/~10", ["/0"]),
        ("/~0~1~0", ["~/~"]),
        ("/-", ["-"]),
        ("/01", ["01"]),  # a valid token; whether it is a valid *index* depends on the target
    ],
)
def test_parse_pointer(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens


@pytest.mark.parametrize(
    ("tokens", "pointer"),
    [
        ([], ""),
        ([""], "/"),
        (["a/b", "~"], "/a~1b/~0"),
        (["~1"], "/~01"),
        (["0", "-"], "/0/-"),
    ],
)
def test_format_pointer(tokens: list[str], pointer: str) -> None:
    assert format_pointer(tokens) == pointer


@pytest.mark.parametrize("pointer", ["a", "a/b", " /a", "#/a"])
def test_pointer_must_start_with_slash(pointer: str) -> None:
    with pytest.raises(InvalidPathError) as info:
        parse_pointer(pointer)
    assert info.value.path == pointer
    assert "start with '/'" in info.value.reason


@pytest.mark.parametrize("pointer", ["/~", "/a~", "/~2", "/a~b", "/~~0", "/ok/~x/ok", "/~/"])
def test_tilde_followed_by_anything_but_0_or_1_is_malformed(pointer: str) -> None:
    with pytest.raises(InvalidPathError) as info:
        parse_pointer(pointer)
    assert info.value.path == pointer
    assert "escape" in info.value.reason


@pytest.mark.parametrize("pointer", [None, 1, b"/a", ["a"]])
def test_non_string_pointer_is_rejected(pointer: Any) -> None:
    with pytest.raises(InvalidPathError, match="must be a string"):
        parse_pointer(pointer)


@pytest.mark.parametrize("bad", ["/a~", "/~2", "x"])
def test_resolve_rejects_malformed_pointers(bad: str) -> None:
    with pytest.raises(InvalidPathError):
        resolve({"a": 1}, bad)


ARRAY_DOC: dict[str, Any] = {"arr": [10, 20, 30], "obj": {"01": "key", "-": "dash"}}


# "\u0661" is ARABIC-INDIC DIGIT ONE: str.isdigit() accepts it, JSON Pointer does not.
BAD_INDICES = ["01", "00", "1a", "-1", "+1", " 1", "1 ", "1.0", "", "0x1", "\u0661"]


@pytest.mark.parametrize("index", BAD_INDICES)
def test_resolve_rejects_non_strict_array_indices(index: str) -> None:
    with pytest.raises(InvalidPathError) as info:
        resolve(ARRAY_DOC, f"/arr/{index}")
    assert f"invalid array index {index!r}" in info.value.reason


def test_resolve_array_indices() -> None:
    assert resolve(ARRAY_DOC, "/arr/0") == 10
    assert resolve(ARRAY_DOC, "/arr/2") == 30


@pytest.mark.parametrize("index", ["3", "4", "99999999999999999999999999"])
def test_resolve_index_out_of_range(index: str) -> None:
    with pytest.raises(InvalidPathError) as info:
        resolve(ARRAY_DOC, f"/arr/{index}")
    assert f"index {index} out of range (length 3)" in info.value.reason


def test_resolve_dash_refers_to_no_element() -> None:
    with pytest.raises(InvalidPathError, match="only valid as the target of 'add'"):
        resolve(ARRAY_DOC, "/arr/-")


def test_object_members_named_like_indices_are_plain_keys() -> None:
    assert resolve(ARRAY_DOC, "/obj/01") == "key"
    assert resolve(ARRAY_DOC, "/obj/-") == "dash"


@pytest.mark.parametrize(
    ("pointer", "fragment"),
    [
        ("/missing", "member 'missing' not found in the object at the document root"),
        ("/obj/missing", "member 'missing' not found in the object at '/obj'"),
        ("/arr/0/x", "cannot look up 'x' in a int value (at '/arr/0')"),
        ("/obj/01/x", "cannot look up 'x' in a str value"),
    ],
)
def test_resolve_absent_path_names_where(pointer: str, fragment: str) -> None:
    with pytest.raises(InvalidPathError) as info:
        resolve(ARRAY_DOC, pointer)
    assert info.value.path == pointer
    assert fragment in info.value.reason


def test_resolve_into_a_scalar_document() -> None:
    assert resolve(5, "") == 5
    with pytest.raises(InvalidPathError):
        resolve(5, "/a")


def test_null_member_resolves_to_none_not_absent() -> None:
    assert resolve({"a": None}, "/a") is None


@settings(max_examples=200)
@given(st.lists(st.text(alphabet=st.sampled_from("ab/~01- ")) | st.text(), max_size=6))
def test_format_then_parse_round_trips(tokens: list[str]) -> None:
    assert parse_pointer(format_pointer(tokens)) == tokens


@settings(max_examples=200)
@given(st.lists(st.text(alphabet=st.sampled_from("ab/~01"), max_size=5), min_size=1, max_size=4))
def test_resolve_finds_members_with_any_key(keys: list[str]) -> None:
    doc: Any = "leaf"
    for key in reversed(keys):
        doc = {key: doc, "other": 1}
    assert resolve(doc, format_pointer(keys)) == "leaf"
