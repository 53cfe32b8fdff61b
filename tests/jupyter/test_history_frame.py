"""history_frame and states_frame: values on the seeded history, on every backend."""

from __future__ import annotations

import pandas as pd
import pytest

from agui_state import InvalidPathError, NotFoundError, StateStore, ValidationError
from agui_state.jupyter import history_frame, states_frame
from tests.jupyter._seed import EMPTY, T1, T2, Seeded, fingerprint


def test_history_frame_one_state(seeded: Seeded) -> None:
    before = fingerprint(seeded.backend)
    df = history_frame(seeded.backend, T1)
    assert list(df["version"]) == list(range(11, 0, -1))
    assert list(df.columns[:6]) == ["state_id", "version", "id", "parent_id", "timestamp", "run_id"]
    assert list(df.columns[-3:]) == ["ops", "summary", "paths"]
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["timestamp"].is_monotonic_decreasing
    row = df.set_index("version").loc[3]
    assert row["run_id"] == "run-1"
    assert row["ops"] == 2
    assert row["summary"] == "add /cart/items/-, replace /cart/total"
    assert row["paths"] == ["/cart/items/-", "/cart/total"]
    v7 = df.set_index("version").loc[7]
    assert v7["summary"] == "move /cart/items/0 -> /saved"
    assert v7["paths"] == ["/cart/items/0", "/saved"]
    ids = df.set_index("version")["id"]
    parents = df.set_index("version")["parent_id"]
    assert parents[2] == ids[1] and parents[11] == ids[10]
    assert fingerprint(seeded.backend) == before


def test_history_frame_filters(seeded: Seeded) -> None:
    b = seeded.backend
    assert list(history_frame(b, T1, limit=3)["version"]) == [11, 10, 9]
    assert list(history_frame(b, T1, before=5, limit=2)["version"]) == [4, 3]
    assert list(history_frame(b, T1, since=9)["version"]) == [11, 10, 9]
    assert list(history_frame(b, T1, run_id="run-2")["version"]) == [6, 5, 4]
    # A child, the path itself and a parent all count: replace /cart touches /cart/total.
    total = list(history_frame(b, T1, path="/cart/total")["version"])
    assert total == [11, 10, 9, 6, 5, 3, 2, 1]
    assert list(history_frame(b, T1, path="/cart")["version"]) == [11, 10, 9, 7, 6, 5, 3, 2, 1]
    assert list(history_frame(b, T1, path="/user")["version"]) == [8, 4]
    assert list(history_frame(b, T1, path="/saved", run_id="run-3")["version"]) == [7]
    assert history_frame(b, T1, limit=0).empty


def test_history_frame_all_states(seeded: Seeded) -> None:
    df = history_frame(seeded.backend)
    assert len(df) == 13
    assert set(df["state_id"]) == {T1, T2}
    assert df["timestamp"].is_monotonic_decreasing
    # T2 was written after T1: its versions come first.
    assert list(df["state_id"][:2]) == [T2, T2]
    assert len(history_frame(seeded.backend, limit=5)) == 5


def test_history_frame_metadata_columns() -> None:
    store = StateStore("m")
    store.set("/a", 1, metadata={"agui": {"type": "STATE_DELTA", "run_id": "r7"}, "by": "x"})
    store.set("/a", 2, metadata={"version": "meta-v"})
    df = history_frame(store)
    assert list(df["run_id"]) == [None, "r7"]
    assert list(df["agui.type"]) == [None, "STATE_DELTA"]
    assert list(df["by"]) == [None, "x"]
    # A metadata key clashing with a column keeps the column and is prefixed.
    assert list(df["version"]) == [2, 1]
    assert list(df["metadata.version"]) == ["meta-v", None]


def test_history_frame_errors(seeded: Seeded) -> None:
    b = seeded.backend
    with pytest.raises(NotFoundError, match="'missing'"):
        history_frame(b, "missing")
    with pytest.raises(InvalidPathError, match="cart"):
        history_frame(b, T1, path="cart")
    with pytest.raises(ValidationError, match="limit"):
        history_frame(b, T1, limit=-1)
    with pytest.raises(ValidationError, match="source"):
        history_frame(3.5, T1)
    empty = history_frame(b, EMPTY)
    assert empty.empty and "summary" in empty.columns


def test_states_frame(seeded: Seeded) -> None:
    before = fingerprint(seeded.backend)
    df = states_frame(seeded.backend)
    assert list(df.columns) == [
        "state_id",
        "version",
        "versions",
        "created",
        "updated",
        "snapshots",
        "size_bytes",
    ]
    assert list(df["state_id"]) == [EMPTY, T1, T2]
    rows = df.set_index("state_id")
    assert rows.loc[T1, "version"] == 11 and rows.loc[T1, "versions"] == 11
    assert rows.loc[T1, "snapshots"] == 1 and rows.loc[T2, "snapshots"] == 0
    assert rows.loc[T1, "size_bytes"] == len('{"cart":{"total":1},"saved":"pear"}')
    assert rows.loc[EMPTY, "versions"] == 0 and pd.isna(rows.loc[EMPTY, "created"])
    t1 = history_frame(seeded.backend, T1).set_index("version")["timestamp"]
    assert rows.loc[T1, "created"] == t1[1] and rows.loc[T1, "updated"] == t1[11]
    assert str(df["updated"].dtype) == "datetime64[ns, UTC]"
    assert list(states_frame(seeded.backend, prefix="thread-", limit=1)["state_id"]) == [T1]
    assert fingerprint(seeded.backend) == before


def test_states_frame_after_prune(seeded: Seeded) -> None:
    seeded.backend.prune_history(T1, 4)
    rows = states_frame(seeded.backend, prefix=T1).set_index("state_id")
    assert rows.loc[T1, "version"] == 11 and rows.loc[T1, "versions"] == 4


def test_summarize_states_bulk_matches_one_by_one(seeded: Seeded) -> None:
    from agui_state.backends.summary import summarize_each

    b = seeded.backend
    b.prune_history(T2, 1)
    ids = ["absent", EMPTY, T1, T2]
    bulk = b.summarize_states(ids)
    assert [s.state_id for s in bulk] == [EMPTY, T1, T2]  # absent ids skipped, order kept
    assert bulk == summarize_each(b, ids)
    t2 = bulk[2]
    assert (t2.head, t2.versions, t2.snapshots) == (2, 1, 0)
    assert t2.created == t2.updated and t2.created is not None
