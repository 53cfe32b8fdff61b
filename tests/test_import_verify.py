"""Import verifies before it writes: the cases the conformance test does not cover.

Valid dumps that take unusual shapes (a ``set_state`` repair, a pruned
history, snapshots) still import; damaged ones of those shapes are refused
with the state, version and field named, and nothing is written.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agui_state import PersistentStateStore, StoreLimits, StoreOptions, ValidationError
from agui_state.backends import MemoryBackend
from agui_state.migration import export_data, import_data


def _history(backend: MemoryBackend, sid: str = "s", versions: int = 8) -> None:
    with PersistentStateStore(backend, sid, options=StoreOptions(checkpoint_interval=3)) as s:
        for i in range(versions):
            s.set(f"/k{i % 2}", i)
        s.create_snapshot("snap", {"who": "test"})


def _refused(dump: dict[str, Any], **kwargs: Any) -> ValidationError:
    target = MemoryBackend()
    with pytest.raises(ValidationError) as info:
        import_data(target, dump, **kwargs)
    assert target.list_states() == []
    return info.value


def test_a_repaired_state_imports_and_its_repair_is_verified() -> None:
    src = MemoryBackend()
    _history(src)
    src.set_state("s", {"repaired": True})  # a repair at the head, no version
    with PersistentStateStore(src, "s") as s:
        s.set("/after", 1)
    dump = export_data(src)
    target = MemoryBackend()
    import_data(target, dump)
    assert target.get_state("s") == {"repaired": True, "after": 1}
    bad = copy.deepcopy(dump)
    bad["states"][0]["versions"][-1]["delta"] = [{"op": "remove", "path": "/missing"}]
    error = _refused(bad)
    assert "version 9" in error.field and "delta" in error.field


def test_a_pruned_history_imports_and_a_forged_later_checkpoint_is_refused() -> None:
    src = MemoryBackend()
    _history(src, versions=10)
    src.prune_history("s", 4)
    dump = export_data(src)
    target = MemoryBackend()
    import_data(target, dump)
    assert target.get_state("s") == src.get_state("s")
    bad = copy.deepcopy(dump)
    versions = bad["states"][0]["versions"]
    carried = [v for v in versions[1:] if v.get("checkpoint") is not None]
    assert carried, "the dump should carry a checkpoint after its first version"
    carried[0]["checkpoint"] = {"forged": 1}
    error = _refused(bad)
    assert f"version {carried[0]['number']}" in error.field and "checkpoint" in error.field


def test_snapshots_are_checked_against_the_limits() -> None:
    src = MemoryBackend()
    _history(src)
    dump = export_data(src)
    bad = copy.deepcopy(dump)
    bad["states"][0]["snapshots"][0]["state"] = {"x": "y" * 300}
    error = _refused(bad, limits=StoreLimits(max_string_bytes=100))
    assert "snapshots[0].state" in error.field
    bad = copy.deepcopy(dump)
    bad["states"][0]["snapshots"][0]["metadata"] = {"m": 10**5000}
    assert "snapshots[0]" in _refused(bad).field


def test_the_importing_store_limits_apply() -> None:
    src = MemoryBackend()
    _history(src)
    dump = export_data(src)
    small = StoreOptions(limits=StoreLimits(max_state_bytes=10))
    with PersistentStateStore(MemoryBackend(), "other", options=small) as store:
        with pytest.raises(ValidationError) as info:
            store.import_data(dump)
        assert "'s'" in info.value.field
        assert store.backend.list_states() == []
