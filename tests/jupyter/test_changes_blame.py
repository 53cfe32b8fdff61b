"""changes_frame and blame: exact values on the seeded history, on every backend."""

from __future__ import annotations

import pandas as pd
import pytest

from agui_state import InvalidPathError, NotFoundError, StateStore, ValidationError
from agui_state.jupyter import blame, changes_frame
from tests.jupyter._seed import T1, T1_TOTAL_CHANGES, T2, Seeded, fingerprint


def _triples(df: pd.DataFrame) -> list[tuple[object, ...]]:
    return [(r.version, r.run_id, r.old, r.new) for r in df.itertuples(index=False)]


def test_changes_of_total(seeded: Seeded) -> None:
    before = fingerprint(seeded.backend)
    df = changes_frame(seeded.backend, "/cart/total", state_ids=[T1])
    # v5 replaced the parent /cart (total 5 -> 7); v6 wrote an equal value and
    # v9 replaced /cart keeping total 7: neither changed it.
    assert _triples(df) == T1_TOTAL_CHANGES
    assert list(df["change"]) == ["added", "changed", "changed", "changed", "removed", "added"]
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df.loc[df["version"] == 5, "summary"].item() == "replace /cart"
    assert fingerprint(seeded.backend) == before


def test_changes_across_states_and_limit(seeded: Seeded) -> None:
    df = changes_frame(seeded.backend, "/cart/total")
    assert list(df["state_id"]) == [T1] * 6 + [T2] * 2  # by time: thread-2 was written last
    assert _triples(df[df["state_id"] == T2]) == [(1, "run-9", None, 2), (2, "run-9", 2, 4)]
    newest = changes_frame(seeded.backend, "/cart/total", limit=3)
    assert [(r.state_id, r.version) for r in newest.itertuples()] == [
        (T1, 11),
        (T2, 1),
        (T2, 2),
    ]
    assert changes_frame(seeded.backend, "/cart/total", state_ids=T2, limit=0).empty


def test_changes_of_other_paths(seeded: Seeded) -> None:
    b = seeded.backend
    items = changes_frame(b, "/cart/items", state_ids=[T1])
    assert [r.version for r in items.itertuples()] == [1, 2, 3, 5, 7, 10]
    assert items.loc[items["version"] == 7, "new"].item() == []
    saved = changes_frame(b, "/saved", state_ids=[T1])
    assert _triples(saved) == [(7, "run-3", None, "pear")]
    root = changes_frame(b, "", state_ids=[T1])
    # v6 and v9 wrote values equal to what was there: the document did not change.
    assert list(root["version"]) == [1, 2, 3, 4, 5, 7, 8, 10, 11]


def test_changes_follow_array_shifts() -> None:
    store = StateStore("s")
    store.set("/l", ["a", "b", "c"], metadata={"run_id": "r1"})
    store.apply_patch([{"op": "remove", "path": "/l/0"}], metadata={"run_id": "r2"})
    store.apply_patch([{"op": "add", "path": "/l/-", "value": "d"}], metadata={"run_id": "r3"})
    df = changes_frame(store, "/l/1")
    assert _triples(df) == [(1, "r1", None, "b"), (2, "r2", "b", "c")]
    third = changes_frame(store, "/l/2")
    assert _triples(third) == [(1, "r1", None, "c"), (2, "r2", "c", None), (3, "r3", None, "d")]


def test_changes_after_prune(seeded: Seeded) -> None:
    seeded.backend.prune_history(T1, 3)  # keeps 9..11; 9 carries a checkpoint
    df = changes_frame(seeded.backend, "/cart/total", state_ids=[T1])
    assert _triples(df) == T1_TOTAL_CHANGES[-2:]


def test_changes_errors(seeded: Seeded) -> None:
    with pytest.raises(InvalidPathError, match="cart"):
        changes_frame(seeded.backend, "cart")
    with pytest.raises(NotFoundError, match="'nope'"):
        changes_frame(seeded.backend, "/a", state_ids=["nope"])
    with pytest.raises(ValidationError, match="state_ids"):
        changes_frame(seeded.backend, "/a", state_ids=[1])
    with pytest.raises(ValidationError, match="limit"):
        changes_frame(seeded.backend, "/a", limit="all")


def test_blame_after_moves_and_removes(seeded: Seeded) -> None:
    before = fingerprint(seeded.backend)
    df = blame(seeded.backend, T1)
    got = {r.path: (r.value, r.version, r.run_id) for r in df.itertuples(index=False)}
    # "pear" was written by v5 (which replaced /cart) and moved to /saved by v7:
    # a move keeps the author. /user was removed: no row.
    assert got == {"/cart/total": (1, 11, "run-4"), "/saved": ("pear", 5, "run-2")}
    assert list(df.columns) == ["path", "value", "version", "run_id", "timestamp"]
    stamps = df.set_index("version")["timestamp"]
    assert stamps[11] > stamps[5]
    at6 = blame(seeded.backend, T1, version=6)
    got6 = {r.path: (r.value, r.version) for r in at6.itertuples(index=False)}
    # v6 replaced /cart/total with an equal value: it still wrote it.
    assert got6 == {"/cart/total": (7, 6), "/cart/items/0": ("pear", 5), "/user": ("ann", 4)}
    at3 = blame(seeded.backend, T1, "/cart/items", version=3)
    assert [(r.path, r.value, r.version) for r in at3.itertuples(index=False)] == [
        ("/cart/items/0", "apple", 2),
        ("/cart/items/1", "pear", 3),
    ]
    assert fingerprint(seeded.backend) == before


def test_blame_array_shifts_and_nested_writes() -> None:
    store = StateStore("s")
    store.set("/items", ["a", "b", "c"], metadata={"run_id": "r1"})
    store.apply_patch([{"op": "add", "path": "/items/-", "value": "d"}])
    store.apply_patch([{"op": "remove", "path": "/items/0"}])
    store.apply_patch([{"op": "replace", "path": "/items/1", "value": "C"}])
    store.set("/cfg", {"deep": {"x": 1, "y": [1, 2]}, "empty": {}})
    store.set("/cfg/deep/y/0", 9)
    store.apply_patch([{"op": "move", "from": "/items/0", "path": "/items/2"}])
    store.apply_patch([{"op": "copy", "from": "/cfg/deep", "path": "/copy"}])
    assert store.get_state()["items"] == ["C", "d", "b"]
    df = blame(store, None)
    got = {r.path: (r.value, r.version) for r in df.itertuples(index=False)}
    assert got == {
        "/items/0": ("C", 4),
        "/items/1": ("d", 2),
        "/items/2": ("b", 1),  # shifted by v3, moved by v7: still written by v1
        "/cfg/deep/x": (1, 5),
        "/cfg/deep/y/0": (9, 6),
        "/cfg/deep/y/1": (2, 5),
        "/cfg/empty": ({}, 5),
        "/copy/x": (1, 8),  # a copy writes new values
        "/copy/y/0": (9, 8),
        "/copy/y/1": (2, 8),
    }
    assert list(df["path"])[:3] == ["/items/0", "/items/1", "/items/2"]
    assert df.loc[df["version"] == 1, "run_id"].item() == "r1"


def test_blame_errors(seeded: Seeded) -> None:
    with pytest.raises(NotFoundError, match="12"):
        blame(seeded.backend, T1, version=12)
    with pytest.raises(InvalidPathError, match="/user"):
        blame(seeded.backend, T1, "/user")  # removed by v8
    with pytest.raises(ValidationError, match="version"):
        blame(seeded.backend, T1, version="head")
    with pytest.raises(NotFoundError, match="'nope'"):
        blame(seeded.backend, "nope")
