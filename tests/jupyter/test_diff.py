"""diff(): between versions, snapshots and version ids, on every backend."""

from __future__ import annotations

import pytest

from agui_state import NotFoundError, ValidationError
from agui_state.jupyter import StateDiff, diff, open_source
from agui_state.patch import apply_patch
from tests.jupyter._seed import T1, T1_FINAL, Seeded, fingerprint


def test_diff_of_one_version(seeded: Seeded) -> None:
    before = fingerprint(seeded.backend)
    d = diff(seeded.backend, T1, 5)
    assert isinstance(d, StateDiff)
    assert (d.old_version, d.new_version) == (4, 5)
    assert d.old["cart"] == {"total": 5, "items": ["apple", "pear"]}
    assert d.new["cart"] == {"total": 7, "items": ["pear"]}
    assert apply_patch(d.old, d.ops) == d.new
    rows = d.to_frame().to_dict("records")
    assert {"op": "replace", "path": "/cart/total", "old": 5, "new": 7} in rows
    assert list(d.to_frame().columns) == ["op", "path", "old", "new"]
    assert repr(d).startswith("StateDiff(state_id='thread-1', version 4 -> version 5, ops=")
    assert fingerprint(seeded.backend) == before


def test_diff_between_versions_and_snapshots(seeded: Seeded) -> None:
    b = seeded.backend
    d = diff(b, T1, 0, 11)
    assert d.old == {} and d.new == T1_FINAL
    assert sorted(op["path"] for op in d.ops) == ["/cart", "/saved"]
    same = diff(b, T1, 6, 5)
    assert same.ops == [] and same.to_frame().empty and "(no change)" in repr(same)
    back = diff(b, T1, 10, 9)
    assert back.to_frame().to_dict("records") == [
        {"op": "add", "path": "/cart", "old": None, "new": {"total": 7, "items": []}}
    ]
    snap = diff(b, T1, seeded.snapshot_id, 6)
    assert snap.old_label == "snapshot 'before-run-2'" and snap.old_version == 3
    assert {"op": "add", "path": "/user", "value": "ann"} in snap.ops
    since = diff(b, T1, seeded.snapshot_id)  # snapshot -> current state
    assert since.new == T1_FINAL and since.new_version == 11
    with open_source(b) as src:
        v8 = src.get_version(T1, 8)
    by_id = diff(b, T1, v8.id)
    assert (by_id.old_version, by_id.new_version) == (7, 8)
    assert by_id.ops == [{"op": "remove", "path": "/user"}]
    assert diff(b, T1, v8).ops == by_id.ops


def test_diff_rows_follow_the_patch_order() -> None:
    d = StateDiff(
        "s",
        "a",
        "b",
        0,
        1,
        {"l": [1, 2, 3]},
        {"l": [3]},
        [
            {"op": "remove", "path": "/l/0"},
            {"op": "remove", "path": "/l/0"},
        ],
    )
    assert [r["old"] for r in d.rows()] == [1, 2]
    assert [r["new"] for r in d.rows()] == [None, None]


def test_diff_errors(seeded: Seeded) -> None:
    b = seeded.backend
    with pytest.raises(ValidationError, match="version 0 has no parent"):
        diff(b, T1, 0)
    with pytest.raises(NotFoundError, match="12"):
        diff(b, T1, 12)
    with pytest.raises(NotFoundError, match="'no-such-snapshot'"):
        diff(b, T1, "no-such-snapshot")
    with pytest.raises(NotFoundError, match="'missing'"):
        diff(b, "missing", 1)
    with pytest.raises(ValidationError, match="invalid b"):
        diff(b, T1, 1, 2.5)
