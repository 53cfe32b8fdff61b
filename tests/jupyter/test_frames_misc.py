"""snapshots_frame, stats_frame, state_frame; the doctest examples of the data layer."""

from __future__ import annotations

import doctest
import importlib

import pytest

from agui_state import InvalidPathError, NotFoundError, PersistentStateStore, ValidationError
from agui_state.jupyter import snapshots_frame, state_frame, stats_frame
from agui_state.testing import BackendFactory
from tests.jupyter._seed import T1, T2, Seeded, fingerprint


def test_snapshots_frame(seeded: Seeded) -> None:
    before = fingerprint(seeded.backend)
    df = snapshots_frame(seeded.backend)
    assert list(df.columns) == [
        "state_id",
        "id",
        "label",
        "version",
        "timestamp",
        "size_bytes",
        "metadata",
    ]
    assert df[["state_id", "id", "label", "version"]].values.tolist() == [
        [T1, seeded.snapshot_id, "before-run-2", 3]
    ]
    doc = '{"cart":{"total":5,"items":["apple","pear"]}}'
    assert df["size_bytes"].item() == len(doc)
    assert snapshots_frame(seeded.backend, T2).empty
    with pytest.raises(NotFoundError, match="'nope'"):
        snapshots_frame(seeded.backend, "nope")
    assert fingerprint(seeded.backend) == before


def test_stats_frame(seeded: Seeded, backend_factory: BackendFactory) -> None:
    with PersistentStateStore(seeded.backend, T1) as store:
        df = stats_frame(seeded.backend, store)
    assert list(df["kind"]) == [backend_factory.kind] * 2
    assert list(df.columns[:2]) == ["source", "kind"]
    assert df["backend_type"].tolist() == [backend_factory.kind] * 2
    assert df.iloc[1]["state_id"] == T1
    assert any(c.startswith("backend.") for c in df.columns)  # nested figures dotted
    with pytest.raises(ValidationError, match="sources"):
        stats_frame()


def test_stats_frame_never_shows_a_password() -> None:
    url = "postgresql+psycopg://user:s3cret@127.0.0.1:1/db"
    # Opening does not connect; stats of an unreachable server may fail, the label must not leak.
    from agui_state.jupyter import open_source

    with open_source(url) as src:
        assert "s3cret" not in src.label and "s3cret" not in repr(src)


def test_state_frame(seeded: Seeded) -> None:
    df = state_frame(seeded.backend, T1, version=3)
    assert df.values.tolist() == [
        ["/cart/total", "number", 5],
        ["/cart/items/0", "string", "apple"],
        ["/cart/items/1", "string", "pear"],
    ]
    now = state_frame(seeded.backend, T1)
    # Document order: /saved was added (v7) before /cart was added again (v11).
    assert now.values.tolist() == [["/saved", "string", "pear"], ["/cart/total", "number", 1]]
    sub = state_frame(seeded.backend, T1, path="/cart/items", version=3)
    assert list(sub["path"]) == ["/cart/items/0", "/cart/items/1"]
    with pytest.raises(InvalidPathError, match="/user"):
        state_frame(seeded.backend, T1, path="/user")
    with pytest.raises(NotFoundError, match="99"):
        state_frame(seeded.backend, T1, version=99)


@pytest.mark.parametrize(
    "module",
    [
        "agui_state.jupyter",
        "agui_state.jupyter.ops",
        "agui_state.jupyter.source",
        "agui_state.jupyter.diff",
        "agui_state.jupyter.frames.blame",
        "agui_state.jupyter.frames.changes",
        "agui_state.jupyter.frames.document",
        "agui_state.jupyter.frames.history",
        "agui_state.jupyter.frames.snapshots",
        "agui_state.jupyter.frames.states",
        "agui_state.patch.summary",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
