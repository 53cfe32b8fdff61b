"""open_source / StateSource: every source type, paging, closing, errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agui_state import NotFoundError, PersistentStateStore, StateStore, ValidationError
from agui_state.jupyter import open_source
from agui_state.jupyter import source as source_mod
from agui_state.jupyter.source import borrow
from agui_state.testing import BackendFactory
from tests.jupyter._seed import EMPTY, T1, T2, Seeded, fingerprint


def test_reads_every_backend(seeded: Seeded, backend_kind: str) -> None:
    before = fingerprint(seeded.backend)
    with open_source(seeded.backend) as src:
        assert src.kind == backend_kind
        assert sorted(src.iter_state_ids()) == [EMPTY, T1, T2]
        assert list(src.iter_state_ids(prefix="thread-")) == [T1, T2]
        assert src.head_version(T1) == 11
        assert src.state_at(T1, 3) == {"cart": {"total": 5, "items": ["apple", "pear"]}}
        assert src.get_version(T1, 5).metadata == {"run_id": "run-2"}
        numbers = [v.number for v in src.iter_history(T1, page_size=4)]
        assert numbers == list(range(11, 0, -1))
        assert [v.number for v in src.iter_history(T1, before=5, since=2)] == [4, 3, 2]
        assert [v.number for v in src.iter_versions(T1, after=8)] == [9, 10, 11]
        assert [s.label for s in src.list_snapshots(T1)] == ["before-run-2"]
        assert src.get_snapshot(T1, seeded.snapshot_id).version == 3
        assert src.stats()["backend_type"] == backend_kind
    assert fingerprint(seeded.backend) == before
    assert not getattr(seeded.backend, "_closed", False)  # a given backend stays open


def test_history_by_time(seeded: Seeded) -> None:
    with open_source(seeded.backend) as src:
        v5 = src.get_version(T1, 5)
        newer = [v.number for v in src.iter_history(T1, since=v5.timestamp)]
        older = [v.number for v in src.iter_history(T1, before=v5.timestamp)]
        later = v5.timestamp + timedelta(days=1)
        assert newer == list(range(11, 4, -1))
        assert older == [4, 3, 2, 1]
        assert list(src.iter_history(T1, since=later)) == []


def test_url_source_is_closed(
    seeded: Seeded, backend_factory: BackendFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not backend_factory.cross_process:
        pytest.skip("memory:// opens a new, empty memory backend")
    opened: list[Any] = []
    real = source_mod.create_backend

    def spy(url: str) -> Any:
        backend = real(url)
        opened.append(backend)
        return backend

    monkeypatch.setattr(source_mod, "create_backend", spy)
    with open_source(backend_factory.url) as src:
        assert src.head_version(T1) == 11
        assert "password" not in src.label
    assert len(opened) == 1 and opened[0]._closed
    with pytest.raises(NotFoundError), borrow(backend_factory.url) as src:
        src.head_version("nope")
    assert len(opened) == 2 and opened[1]._closed


def test_persistent_store_source(seeded: Seeded) -> None:
    with PersistentStateStore(seeded.backend, T2) as store:
        with open_source(store) as src:
            assert src.default_state_id == T2
            assert src.head_version() == 2
            assert src.writer() is store
            other = src.writer(T1)
            assert isinstance(other, PersistentStateStore) and other.version == 11
        assert other.closed and not store.closed
        # A persistent store lists its backend's states; other frames default to its own state.
        from agui_state.jupyter import history_frame, states_frame

        assert list(states_frame(store)["state_id"]) == [EMPTY, T1, T2]
        assert set(history_frame(store)["state_id"]) == {T2}


def test_store_source() -> None:
    store = StateStore("s")
    store.set("/a", 1)
    store.set("/a", 2)
    with open_source(store) as src:
        assert src.kind == "store"
        assert list(src.iter_state_ids()) == ["s"]
        assert list(src.iter_state_ids(prefix="x")) == []
        assert [v.number for v in src.iter_versions("s")] == [1, 2]
        assert src.stats()["versions"] == 2
        assert src.writer() is store
        with pytest.raises(NotFoundError, match="'other'"):
            src.head_version("other")
        with pytest.raises(ValidationError, match="state_id"):
            src.writer("other")


def test_errors(seeded: Seeded) -> None:
    with pytest.raises(ValidationError, match="source"):
        open_source(42)
    with open_source(seeded.backend) as src:
        with pytest.raises(ValidationError, match="state_id"):
            src.head_version()
        with pytest.raises(NotFoundError, match="'missing'"):
            src.head_version("missing")
        with pytest.raises(NotFoundError, match="12"):
            src.state_at(T1, 12)
        with pytest.raises(ValidationError, match="version"):
            src.state_at(T1, -1)
        with pytest.raises(NotFoundError, match="'missing'"):
            src.get_version("missing", 1)
        with pytest.raises(ValidationError, match="before"):
            list(src.iter_history(T1, before="yesterday"))
