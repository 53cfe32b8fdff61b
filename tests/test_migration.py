"""Export, import and backend-to-backend migration."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agui_state.backends import MemoryBackend, StorageBackend, create_backend
from agui_state.backends.base import Checkpoint
from agui_state.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from agui_state.migration import EXPORT_FORMAT, export_data, import_data, migrate
from agui_state.models import StateVersion, new_id, utcnow
from agui_state.persistent import PersistentStateStore
from agui_state.store import StoreOptions
from tests.test_persistent_support import (
    FailingBackend,
    Target,
    assert_same_history,
    persistent_url,
    target,
    url_for,
)

__all__ = ["persistent_url", "target"]  # fixtures used by this module


def _populate(backend: StorageBackend, states: int = 3, versions: int = 12) -> None:
    """Write a few states with histories, checkpoints and snapshots."""
    opts = StoreOptions(checkpoint_interval=5)
    for s in range(states):
        with PersistentStateStore(backend, f"state-{s}", options=opts) as store:
            for i in range(versions + s):
                store.set(f"/items/k{i % 4}", {"i": i, "s": "x" * (i % 3)}, metadata={"run": i})
                if i == 4:
                    store.create_persistent_snapshot(f"snap-{s}", {"n": s})
            store.delete("/items/k0")


def _source() -> MemoryBackend:
    src = MemoryBackend()
    _populate(src)
    return src


def test_export_dump_shape_is_documented_and_json() -> None:
    src = _source()
    dump = export_data(src)
    again = json.loads(json.dumps(dump))
    assert again == dump
    assert dump["format"] == EXPORT_FORMAT and dump["format_version"] == 1
    assert isinstance(dump["exported_at"], str)
    state = dump["states"][0]
    assert set(state) == {"state_id", "head", "versions", "snapshots", "checkpoint"}
    assert state["state_id"] == "state-0"
    assert [v["number"] for v in state["versions"]] == list(range(1, state["head"] + 1))
    assert state["checkpoint"]["version"] == 10
    assert len(state["snapshots"]) == 1
    only = export_data(src, ["state-1"])
    assert [s["state_id"] for s in only["states"]] == ["state-1"]


def test_export_import_round_trip_is_exact(target: Target) -> None:
    src = _source()
    dump = json.loads(json.dumps(export_data(src)))
    dst = target.backend()
    report = import_data(dst, dump)
    assert report.imported == ["state-0", "state-1", "state-2"]
    assert report.versions_written == sum(len(s["versions"]) for s in dump["states"])
    for sid in report.imported:
        assert_same_history(src, dst, sid)  # ids, numbers, timestamps, metadata, checkpoints
    # Importing the same dump again is a no-op.
    again = import_data(dst, dump)
    assert again.skipped == report.imported and again.imported == []


def test_import_pruned_history(target: Target) -> None:
    src = _source()
    src.prune_history("state-2", keep_last=4)
    dst = target.backend()
    import_data(dst, export_data(src, ["state-2"]))
    assert_same_history(src, dst, "state-2")
    with PersistentStateStore(dst, "state-2") as store:
        store.set("/after", True)
    assert dst.head_version("state-2") == src.head_version("state-2") + 1


def test_import_state_created_with_set_state() -> None:
    src = MemoryBackend()
    src.set_state("plain", {"base": 1})
    with PersistentStateStore(src, "plain") as store:
        store.set("/more", 2)
    src.set_state("bare", {"only": "checkpoint"})
    dst = MemoryBackend()
    import_data(dst, export_data(src))
    assert dst.get_state("plain") == {"base": 1, "more": 2}
    assert dst.get_state("bare") == {"only": "checkpoint"}
    assert dst.head_version("bare") == 0


def _corrupt(dump: dict[str, Any], how: str) -> dict[str, Any]:
    bad = copy.deepcopy(dump)
    state = bad["states"][1]
    if how == "format":
        bad["format"] = "something-else"
    elif how == "gap":
        del state["versions"][3]
    elif how == "state_id":
        state["versions"][2]["state_id"] = "other"
    elif how == "timestamp":
        state["versions"][0]["timestamp"] = "yesterday"
    elif how == "head":
        state["head"] = 99
    elif how == "not_json":
        state["versions"][1]["metadata"] = {"x": float("nan")}
    elif how == "delta":
        state["versions"][-1]["delta"] = [{"op": "remove", "path": "/nope"}]
        state["checkpoint"] = {"version": state["head"] - 1, "state": {}}
    return bad


@pytest.mark.parametrize(
    ("how", "field"),
    [
        ("format", "dump.format"),
        ("gap", "versions[3].number"),
        ("state_id", "versions[2].state_id"),
        ("timestamp", "timestamp"),
        ("head", "head"),
        ("not_json", "versions[1]"),
        ("delta", "versions"),
    ],
)
def test_invalid_dump_writes_nothing(how: str, field: str) -> None:
    dump = export_data(_source())
    dst = MemoryBackend()
    with pytest.raises(ValidationError) as info:
        import_data(dst, _corrupt(dump, how))
    assert field in info.value.field
    if how != "format":
        assert "state-1" in str(info.value)
    assert dst.list_states() == []  # state-0, valid and first, was not written either


def test_import_conflict_and_overwrite() -> None:
    src = _source()
    dump = export_data(src, ["state-0"])
    dst = MemoryBackend()
    with PersistentStateStore(dst, "state-0") as store:
        store.set("/different", True)
    with pytest.raises(ConflictError, match="state-0"):
        import_data(dst, dump)
    assert dst.get_state("state-0") == {"different": True}
    report = import_data(dst, dump, overwrite=True)
    assert report.imported == ["state-0"]
    assert_same_history(src, dst, "state-0")


def test_store_export_and_import_reload_memory(target: Target) -> None:
    store = target.open("mine", synchronous=False)
    store.set("/a", 1)
    dump = store.export_data()  # flushes first
    assert [s["state_id"] for s in dump["states"]] == ["mine"]
    store.set("/a", 2)
    store.flush()
    store.import_data(dump, overwrite=True)
    assert store.get_state() == {"a": 1}
    assert store.version == 1
    store.set("/a", 3)
    store.flush()
    assert target.backend().get_state("mine") == {"a": 3}


def test_migrate_memory_to_file_to_sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    src = _source()
    src.prune_history("state-1", keep_last=5)
    file_url = url_for("file", request, tmp_path)
    calls: list[tuple[int, int, str]] = []
    report = migrate(src, file_url, progress=lambda d, t, s: calls.append((d, t, s)), batch_size=4)
    assert report.verified
    assert report.copied == ["state-0", "state-1", "state-2"]
    assert report.snapshots_copied == 3
    assert calls and calls[-1][0] == calls[-1][1] == report.versions_copied
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    with create_backend(file_url) as fb:
        for sid in report.copied:
            assert_same_history(src, fb, sid)
    sqlite_url = url_for("sqlite", request, tmp_path)
    report2 = migrate(file_url, sqlite_url)
    assert report2.verified and report2.versions_copied == report.versions_copied
    with create_backend(sqlite_url) as sb:
        for sid in report.copied:
            assert_same_history(src, sb, sid)
    # Running again copies nothing.
    report3 = migrate(file_url, sqlite_url)
    assert report3.up_to_date == report.copied and report3.versions_copied == 0


def test_migrate_to_every_backend(target: Target) -> None:
    src = _source()
    dst = target.backend()
    report = migrate(src, dst, ["state-0", "state-2"])
    assert report.verified and report.copied == ["state-0", "state-2"]
    for sid in report.copied:
        assert_same_history(src, dst, sid)
    assert not dst.exists("state-1")


def test_interrupted_migration_resumes_to_the_same_result() -> None:
    src = _source()
    dst = FailingBackend()
    dst.fail_after = 5  # dies mid-way through the second state
    with pytest.raises(StorageError, match="injected"):
        migrate(src, dst, batch_size=3)
    assert dst.list_states()  # something was copied before the failure
    dst.fail_after = None
    report = migrate(src, dst, batch_size=3)
    assert report.verified
    reference = MemoryBackend()
    migrate(src, reference)
    for sid in src.list_states():
        assert_same_history(src, dst, sid)
        assert_same_history(reference, dst, sid)
    # New writes on the source are picked up incrementally.
    with PersistentStateStore(src, "state-0") as store:
        store.set("/late", 1)
    later = migrate(src, dst)
    assert later.versions_copied == 1 and later.copied == ["state-0"]


def test_migrate_diverged_destination_is_a_conflict() -> None:
    src = _source()
    dst = MemoryBackend()
    with PersistentStateStore(dst, "state-1") as store:
        store.set("/other", "history")
    with pytest.raises(ConflictError, match="state-1"):
        migrate(src, dst)


def test_migrate_verification_failure_names_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    src = _source()
    dst = MemoryBackend()
    monkeypatch.setattr(dst, "list_snapshots", lambda sid: [])
    with pytest.raises(StorageError, match=r"state-0.*snapshot"):
        migrate(src, dst, ["state-0"])


def test_migrate_progress_bar_and_missing_tqdm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tqdm  # the jupyter extra, part of the test install: a missing one must fail

    assert tqdm.__version__
    report = migrate(_source(), MemoryBackend(), progress=True)
    assert report.verified
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ConfigError, match=r"agui-state\[jupyter\]"):
        migrate(_source(), MemoryBackend(), progress=True)


def test_migrate_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        migrate(MemoryBackend(), MemoryBackend(), batch_size=0)
    with pytest.raises(ConfigError, match="destination"):
        migrate(MemoryBackend(), 42)  # type: ignore[arg-type]


# ------------------------------------------------------------------ origin
ORIGIN = {"seeded": True, "items": ["a"]}


def _seeded_source() -> MemoryBackend:
    """A state created by set_state whose origin is no longer the latest checkpoint,
    a pruned one, and a state still at version 0."""
    src = MemoryBackend()
    for sid in ("seeded", "pruned"):
        src.set_state(sid, ORIGIN)
        with PersistentStateStore(src, sid, options=StoreOptions(checkpoint_interval=3)) as store:
            for i in range(1, 8):
                store.set(f"/k{i}", i)
    src.prune_history("pruned", keep_last=3)
    src.set_state("bare", {"only": "origin"})
    return src


def _assert_same_time_travel(a: StorageBackend, b: StorageBackend, sid: str) -> None:
    def at(backend: StorageBackend, n: int) -> Any:
        try:
            return backend.state_at(sid, n)
        except NotFoundError:
            return "pruned"

    head = a.head_version(sid)
    assert [at(b, n) for n in range(head + 1)] == [at(a, n) for n in range(head + 1)]


def test_export_import_round_trip_keeps_the_origin(target: Target) -> None:
    src = _seeded_source()
    assert src.read_checkpoint("seeded") == Checkpoint(6, src.state_at("seeded", 6))
    dump = json.loads(json.dumps(export_data(src)))
    by_id = {s["state_id"]: s for s in dump["states"]}
    assert by_id["seeded"]["origin"] == ORIGIN
    assert "origin" not in by_id["pruned"]  # version 0 went with version 1
    assert by_id["bare"]["origin"] == {"only": "origin"}
    dst = target.backend()
    import_data(dst, dump)
    for sid in ("seeded", "pruned", "bare"):
        assert_same_history(src, dst, sid)
        _assert_same_time_travel(src, dst, sid)
    assert dst.state_at("seeded", 0) == ORIGIN
    assert import_data(dst, dump).skipped == ["bare", "pruned", "seeded"]


def _add_version(sid: str, n: int, *, checkpoint: bool = False) -> StateVersion:
    """Version ``n`` adds ``/k<n>`` to ``{"base": 1, "k1": 1, ...}``."""
    state = {"base": 1, **{f"k{i}": i for i in range(1, n + 1)}}
    delta = [{"op": "add", "path": f"/k{n}", "value": n}]
    return StateVersion(new_id(), sid, n, None, utcnow(), delta, {}, state if checkpoint else None)


def test_dump_without_origin_reads_the_checkpoint_at_version_zero() -> None:
    # Dumps written before "origin" existed: a checkpoint at version 0 is the origin.
    src = MemoryBackend()
    src.set_state("plain", {"base": 1})
    src.save_version("plain", _add_version("plain", 1))
    dump = export_data(src)
    assert dump["states"][0].pop("origin") == {"base": 1}
    dst = MemoryBackend()
    import_data(dst, dump)
    dst.save_version("plain", _add_version("plain", 2, checkpoint=True))
    assert dst.state_at("plain", 0) == {"base": 1}
    assert dst.state_at("plain", 1) == {"base": 1, "k1": 1}


@pytest.mark.parametrize(
    ("how", "reason"),
    [("type", "JSON object"), ("pruned", "pruned"), ("differs", "checkpoint at version 0")],
)
def test_invalid_origin_writes_nothing(how: str, reason: str) -> None:
    dump = export_data(_seeded_source())
    by_id = {s["state_id"]: s for s in dump["states"]}
    if how == "type":
        by_id["seeded"]["origin"] = ["not", "an", "object"]
    elif how == "pruned":
        by_id["pruned"]["origin"] = ORIGIN
    else:
        by_id["bare"]["origin"] = {"other": True}
    dst = MemoryBackend()
    with pytest.raises(ValidationError, match=reason) as info:
        import_data(dst, dump)
    assert "origin" in info.value.field
    assert dst.list_states() == []


def test_migrate_copies_and_verifies_the_origin(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _seeded_source()
    dst = target.backend()
    report = migrate(src, dst, batch_size=2)
    assert report.verified
    for sid in ("seeded", "pruned", "bare"):
        assert_same_history(src, dst, sid)
        _assert_same_time_travel(src, dst, sid)
    assert dst.state_at("seeded", 0) == ORIGIN
    # A destination whose origin differs fails verification, naming the state.
    other = MemoryBackend()
    monkeypatch.setattr(other, "read_origin", lambda sid: {})
    with pytest.raises(StorageError, match=r"'seeded'.*origin"):
        migrate(src, other, ["seeded"])
