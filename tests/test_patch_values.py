"""JSON values: check_json (strict validation) and json_equal (JSON equality)."""

from __future__ import annotations

import datetime
import decimal
import enum
from collections import OrderedDict
from typing import Any

import pytest

from agui_state.errors import ValidationError
from agui_state.patch import check_json, json_equal


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -5,
        10**30,
        1.5,
        -0.0,
        "",
        "text ✓",
        [],
        {},
        {"a": [1, 2.5, None, True, {"b": "c"}], "": {"/~": []}},
        OrderedDict(a=1),
    ],
)
def test_json_values_are_accepted(value: Any) -> None:
    check_json(value)


class Color(enum.Enum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "field", "fragment"),
    [
        (float("nan"), "", "non-finite number nan"),
        (float("inf"), "", "non-finite number inf"),
        (float("-inf"), "", "non-finite number -inf"),
        ((1, 2), "", "tuple is not a JSON value"),
        ({1, 2}, "", "set is not a JSON value"),
        (frozenset(), "", "frozenset is not a JSON value"),
        (b"x", "", "bytes is not a JSON value"),
        (bytearray(b"x"), "", "bytearray is not a JSON value"),
        (datetime.datetime(2024, 1, 1), "", "datetime is not a JSON value"),
        (datetime.date(2024, 1, 1), "", "date is not a JSON value"),
        (decimal.Decimal("1.5"), "", "Decimal is not a JSON value"),
        (Color.RED, "", "Color is not a JSON value"),
        (object(), "", "object is not a JSON value"),
        ({1: "a"}, "", "object key 1 (int) is not a string"),
        ({"a": {None: 1}}, "/a", "object key None (NoneType)"),
        ({"a": [1, 2, float("nan")]}, "/a/2", "non-finite"),
        ({"a/b": {"~": (1,)}}, "/a~1b/~0", "tuple"),
        ([{"x": [[{"y": {1, 2}}]]}], "/0/x/0/0/y", "set"),
    ],
)
def test_non_json_values_are_rejected_with_their_pointer(
    value: Any, field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as info:
        check_json(value)
    assert info.value.field == field
    assert fragment in info.value.reason


def test_root_errors_say_so() -> None:
    with pytest.raises(ValidationError, match="at the document root"):
        check_json((1,))


def test_path_prefix_is_prepended() -> None:
    with pytest.raises(ValidationError) as info:
        check_json({"items": [(1,)]}, "/cart")
    assert info.value.field == "/cart/items/0"
    with pytest.raises(ValidationError) as info:
        check_json(float("nan"), "/cart/total")
    assert info.value.field == "/cart/total"
    assert "document root" not in info.value.reason


def test_first_offender_is_reported() -> None:
    with pytest.raises(ValidationError) as info:
        check_json({"a": 1, "b": [0, (1,)], "c": float("nan")})
    assert info.value.field == "/b/1"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (0, -0.0),
        (10**20, 1e20),
        (True, True),
        (False, False),
        (None, None),
        ("a", "a"),
        ([1, [2.0]], [1.0, [2]]),
        ({"a": 1, "b": {"c": [1]}}, {"b": {"c": [1.0]}, "a": 1.0}),
        ([], []),
        ({}, {}),
    ],
)
def test_json_equal(a: Any, b: Any) -> None:
    assert json_equal(a, b)
    assert json_equal(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (True, 1),
        (False, 0),
        (True, 1.0),
        (False, 0.0),
        (False, None),
        (0, None),
        ("", None),
        ([], None),
        ({}, []),
        ("1", 1),
        ([1, 2], [2, 1]),
        ([1], [1, 1]),
        ({"a": True}, {"a": 1}),
        ([{"a": [False]}], [{"a": [0]}]),
        ({"a": 1}, {"b": 1}),
        ({"a": 1}, {"a": 1, "b": None}),
        (2**53 + 1, float(2**53)),
    ],
)
def test_json_not_equal(a: Any, b: Any) -> None:
    assert not json_equal(a, b)
    assert not json_equal(b, a)
