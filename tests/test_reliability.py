"""Issue 10 on the in-memory store and the argument checks: every bad input
gets a clear error from ``agui_state.errors``, and changes nothing.

The same items on every storage backend: ``tests/backends/test_reliability_conformance.py``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

from agui_state import (
    ConfigError,
    LimitExceededError,
    PatchError,
    PersistentStateStore,
    StateError,
    StateStore,
    StorageConfig,
    ValidationError,
    export_data,
    import_data,
)
from agui_state.agui import apply_event
from agui_state.backends import MemoryBackend, create_backend
from agui_state.models import StateSnapshot, new_id, utcnow


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


# ------------------------------------------------------------------ item 2
def test_paths_past_max_depth_and_absurdly_long_paths_are_refused() -> None:
    store = StateStore()
    for tokens in (65, 10_000):
        path = "/" + "/".join(["k"] * tokens)
        with pytest.raises(LimitExceededError) as info:
            store.set(path, 1)
        assert info.value.limit == "max_depth" and info.value.path is not None
        with pytest.raises(LimitExceededError):
            store.transaction().set(path, 1)
    assert store.version == 0 and store.get_state() == {}


def test_deep_values_never_reach_a_recursion() -> None:
    store = StateStore()
    store.set("/a", 1)
    deep = _deep(5000)
    snapshot = StateSnapshot(new_id(), "default", 0, utcnow(), deep, None, {})
    for write in (
        lambda: store.set("/x", deep),
        lambda: store.apply_patch([{"op": "add", "path": "/x", "value": deep}]),
        lambda: store.restore_snapshot(snapshot),
        lambda: apply_event(store, {"type": "STATE_SNAPSHOT", "snapshot": deep}),
        lambda: apply_event(
            store, {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/x", "value": deep}]}
        ),
    ):
        with pytest.raises(LimitExceededError):
            write()
    assert store.version == 1 and store.get_state() == {"a": 1}


# ------------------------------------------------------------------ item 4
def test_integers_too_long_for_json_text_are_refused_everywhere() -> None:
    store = StateStore()
    big = 10**5000
    with pytest.raises(ValidationError) as info:
        store.set("/v", big)
    assert info.value.field == "/v" and "digits" in info.value.reason
    with pytest.raises(ValidationError):
        store.set("/v", 1, metadata={"n": big})
    with pytest.raises(PatchError, match="digits"):
        apply_event(
            store, {"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/v", "value": big}]}
        )
    with pytest.raises(StateError, match="digits"):
        apply_event(store, {"type": "STATE_SNAPSHOT", "snapshot": {"v": [big]}})
    assert store.version == 0
    store.set("/v", 10**3999)  # 4,000 digits: still accepted
    assert store.get("/v") == 10**3999


# ------------------------------------------------------------------ item 6
def test_export_and_import_arguments_are_checked(tmp_path: Path) -> None:
    backend = MemoryBackend()
    with PersistentStateStore(backend, "tt") as store:
        store.set("/a", 1)
    for bad in (5, "tt", b"tt"):
        with pytest.raises(ValidationError) as info:
            export_data(backend, state_ids=bad)
        assert info.value.field == "state_ids"
    url = f"sqlite:///{tmp_path / 'export.db'}"
    with PersistentStateStore(url, "u") as store:
        store.set("/b", 2)
    dump = export_data(url)  # a URL, as migrate() accepts
    assert [s["state_id"] for s in dump["states"]] == ["u"]
    report = import_data(f"sqlite:///{tmp_path / 'import.db'}", dump)
    assert report.imported == ["u"]
    with pytest.raises(ValidationError, match="overwrite"):
        import_data(backend, dump, overwrite="yes")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"logger": "x"}, "logger"),
        ({"synchronous": "no"}, "synchronous"),
        ({"synchronous": 0}, "synchronous"),
    ],
)
def test_persistent_store_arguments_are_checked(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        PersistentStateStore("memory://", **kwargs)
    assert info.value.field == field


def test_persistent_store_accepts_a_real_logger() -> None:
    with PersistentStateStore("memory://", logger=logging.getLogger("x"), synchronous=False) as p:
        assert not p.synchronous


def test_option_blocks_are_checked_and_dicts_accepted() -> None:
    config = StorageConfig(type="file", file_options={"shard_count": 2, "fsync": False})
    assert config.file_options.shard_count == 2
    with pytest.raises(ConfigError) as info:
        StorageConfig(file_options={"shards": 2})
    assert info.value.field == "file_options.shards"
    with pytest.raises(ConfigError) as info:
        StorageConfig(redis_options=3)  # type: ignore[arg-type]
    assert info.value.field == "redis_options"


def test_sqlite_url_parameters_stay_ours(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}?table_prefix=p_"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the driver used to warn about table_prefix
        backend = create_backend(url)
        try:
            with PersistentStateStore(backend, "t") as store:
                store.set("/a", 1)
            assert backend.config.table_prefix == "p_"
        finally:
            backend.close()


# ------------------------------------------------------------------ item 7
def test_metadata_size_limit_is_configurable() -> None:
    from agui_state import StoreLimits, StoreOptions

    store = StateStore(options=StoreOptions(limits=StoreLimits(max_metadata_bytes=100)))
    with pytest.raises(LimitExceededError) as info:
        store.set("/a", 1, metadata={"note": "x" * 200})
    assert info.value.limit == "max_metadata_bytes" and info.value.maximum == 100
    store.set("/a", 1, metadata={"note": "short"})
    assert store.version == 1
    with pytest.raises(ConfigError):
        StoreLimits(max_metadata_bytes=0)


def test_the_patch_engine_refuses_absurd_nesting_without_recursing() -> None:
    from agui_state.agui import rebuild_state
    from agui_state.patch import apply_patch, check_json

    deep = _deep(5000)
    with pytest.raises(PatchError, match="nested deeper"):
        apply_patch({}, [{"op": "add", "path": "/x", "value": deep}])
    with pytest.raises(PatchError, match="nested deeper"):
        rebuild_state(
            [{"type": "STATE_DELTA", "delta": [{"op": "add", "path": "/x", "value": deep}]}]
        )
    with pytest.raises(ValidationError, match="nested deeper"):
        check_json(deep)
    check_json(_deep(300))  # deep but within the engine's bound
