"""Issue 10 on every backend: a reported outcome is the truth, and nothing the
library accepts can make a state unopenable.

Each test runs once per backend kind (``conftest.py``) with identical
expectations. Faults are injected by replacing a primitive on the backend
*instance* (``save_version`` that stores and then raises, as a connection
dropped after the commit does; ``get_version`` that cannot reach the server);
the real TCP-level version of the same faults is ``test_proxy_faults.py``.
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from agui_state.backends import StorageBackend
from agui_state.errors import (
    BackendUnavailableError,
    LimitExceededError,
    StateError,
    StorageError,
    ValidationError,
    WriteOutcomeUnknownError,
)
from agui_state.migration import export_data, import_data
from agui_state.models import StateVersion
from agui_state.persistent import PersistentStateStore
from agui_state.store import StoreOptions
from agui_state.testing import BackendFactory

_ids = itertools.count(1)


def _sid() -> str:
    return f"rel-{next(_ids)}"


# ------------------------------------------------------------------ faults
@contextmanager
def _write_then_fail(backend: StorageBackend, *, lands: bool = True) -> Iterator[None]:
    """``save_version`` stores (when ``lands``) and then loses its reply."""
    original = backend.save_version

    def save(state_id: str, version: StateVersion) -> None:
        if lands:
            original(state_id, version)
        raise BackendUnavailableError("connection lost before the reply")

    backend.save_version = save  # type: ignore[method-assign]
    try:
        yield
    finally:
        del backend.save_version  # back to the class's method


@contextmanager
def _reads_down(backend: StorageBackend) -> Iterator[None]:
    """``get_version`` cannot reach the backend."""

    def down(*args: Any, **kwargs: Any) -> StateVersion:
        raise BackendUnavailableError("backend unreachable")

    backend.get_version = down  # type: ignore[method-assign]
    try:
        yield
    finally:
        del backend.get_version


def _reopened(backend: StorageBackend, sid: str) -> dict[str, Any]:
    with PersistentStateStore(backend, sid) as again:
        return again.get_state()


# ------------------------------------------------------------------ item 1
def test_lost_reply_of_a_stored_write_is_a_success(backend: StorageBackend) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid) as store:
        store.set("/n", 1)
        with _write_then_fail(backend):
            version = store.set("/n", 2, metadata={"call": 2})
        assert (version.number, store.version, backend.head_version(sid)) == (2, 2, 2)
        assert backend.get_version(sid, 2).id == version.id
        assert store.set("/n", 3).number == 3  # no conflict, no refresh needed
        assert _reopened(backend, sid) == store.get_state() == {"n": 3}


def test_unknown_outcome_is_said_and_settled_by_the_next_write(
    backend: StorageBackend, caplog: pytest.LogCaptureFixture
) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid) as store:
        store.set("/n", 1)
        with caplog.at_level(logging.DEBUG), _write_then_fail(backend), _reads_down(backend):
            with pytest.raises(WriteOutcomeUnknownError) as info:
                store.set("/n", 2, metadata={"call": 2})
            # Still unreachable: the next write is not attempted at all.
            with pytest.raises(WriteOutcomeUnknownError):
                store.set("/other", True)
        assert info.value.version == 2 and info.value.state_id == sid
        assert "not persisted" not in caplog.text and "not stored" not in caplog.text
        assert store.version == 1 and store.get_state() == {"n": 1}
        assert backend.head_version(sid) == 2  # it did land
        third = store.set("/n", 3)  # adopts version 2 first, then writes 3
        assert third.number == 3
        assert store.get_version(2).metadata == {"call": 2}
        assert backend.head_version(sid) == 3
        assert _reopened(backend, sid) == store.get_state() == {"n": 3}


def test_unknown_outcome_of_a_write_that_did_not_land(backend: StorageBackend) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid) as store:
        store.set("/n", 1)
        with (
            _write_then_fail(backend, lands=False),
            _reads_down(backend),
            pytest.raises(WriteOutcomeUnknownError),
        ):
            store.set("/n", 2)
        assert backend.head_version(sid) == 1
        version = store.set("/n", 20)
        assert version.number == 2 and store.get_state() == {"n": 20}
        assert _reopened(backend, sid) == {"n": 20}


def test_failed_write_known_not_stored_changes_nothing(backend: StorageBackend) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid) as store:
        store.set("/n", 1)
        with (
            _write_then_fail(backend, lands=False),
            pytest.raises(BackendUnavailableError) as info,
        ):
            store.set("/n", 2)
        assert not isinstance(info.value, WriteOutcomeUnknownError)
        assert store.version == backend.head_version(sid) == 1
        assert store.set("/n", 2).number == 2


# ------------------------------------------------------------------ item 2
def test_set_past_max_depth_is_refused_and_the_state_stays_openable(
    backend: StorageBackend,
) -> None:
    sid = _sid()
    deep = "/" + "/".join(["k"] * 65)
    limit = "/" + "/".join(["k"] * 64)
    with PersistentStateStore(backend, sid) as store:
        store.set("/a", 1)
        with pytest.raises(LimitExceededError) as info:
            store.set(deep, 1)
        assert info.value.limit == "max_depth"
        with pytest.raises(LimitExceededError), store.transaction() as tx:
            tx.set(deep, 1)
        huge = "/" + "/".join(["k"] * 10_000)
        for write in (
            lambda: store.set(huge, 1),
            lambda: store.apply_patch([{"op": "add", "path": huge, "value": {}}]),
            lambda: store.store.transaction().set(huge, 1),
        ):
            with pytest.raises(StateError):  # never a RecursionError
                write()
        assert store.version == backend.head_version(sid) == 1
        store.set(limit, 1)  # 64 containers: exactly the limit
        with pytest.raises(LimitExceededError):
            store.set(limit, {})  # would be the 65th
        assert _reopened(backend, sid) == store.get_state()


# ------------------------------------------------------------------ item 3
def _dump_source() -> dict[str, Any]:
    from agui_state.backends import MemoryBackend

    src = MemoryBackend()
    with PersistentStateStore(src, "dumped", options=StoreOptions(checkpoint_interval=3)) as s:
        for i in range(7):
            s.set(f"/k{i % 3}", {"i": i}, metadata={"run": i})
    return export_data(src)


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def _corruptions() -> list[tuple[str, Callable[[dict[str, Any]], None], str]]:
    """(name, how to damage the state record, text the error's field must hold)."""

    def version(n: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda st: st["versions"][n - 1]

    return [
        (
            "delta-does-not-apply",
            lambda st: version(4)(st).update(delta=[{"op": "remove", "path": "/nope"}]),
            "version 4",
        ),
        (
            "unknown-op",
            lambda st: version(2)(st).update(delta=[{"op": "frobnicate", "path": "/k1"}]),
            "version 2",
        ),
        (
            "checkpoint-contradicts-deltas",
            lambda st: version(6)(st).update(checkpoint={"k0": "forged"}),
            "version 6 (versions[5]) checkpoint",
        ),
        (
            "latest-checkpoint-contradicts",
            lambda st: st["checkpoint"].update(state={"forged": True}),
            "checkpoint",
        ),
        (
            "value-deeper-than-max-depth",
            lambda st: version(3)(st)["delta"][0].update(value=_deep(70)),
            "version 3",
        ),
        (
            "value-5000-deep",
            lambda st: version(3)(st)["delta"][0].update(value=_deep(5000)),
            "versions",
        ),
        ("metadata-list", lambda st: version(2)(st).update(metadata=["x"]), "metadata"),
        (
            "int-5000-digits",
            lambda st: version(5)(st)["delta"][0].update(value=10**5000),
            "version 5",
        ),
        (
            "huge-metadata",
            lambda st: version(5)(st).update(metadata={"x": "y" * 100_000}),
            "version 5 (versions[4]) metadata",
        ),
    ]


def test_import_verifies_every_state_before_writing(backend: StorageBackend) -> None:
    good = _dump_source()
    for name, damage, where in _corruptions():
        dump = copy.deepcopy(good)
        damage(dump["states"][0])
        with pytest.raises(ValidationError) as info:
            import_data(backend, dump)
        assert "'dumped'" in info.value.field, name
        assert where in info.value.field, (name, info.value.field)
        assert not backend.exists("dumped"), name  # nothing written at all
    report = import_data(backend, good)
    assert report.imported == ["dumped"]
    assert _reopened(backend, "dumped") == {"k0": {"i": 6}, "k1": {"i": 4}, "k2": {"i": 5}}


# ------------------------------------------------------------------ item 5
def test_get_state_never_sees_a_hole_while_pruning(backend_factory: BackendFactory) -> None:
    writer_backend, reader = backend_factory(), backend_factory()
    sid = _sid()
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                reader.get_state(sid)
            except BaseException as exc:  # the failure under test
                errors.append(exc)
                return

    with PersistentStateStore(
        writer_backend, sid, options=StoreOptions(checkpoint_interval=4)
    ) as s:
        s.set("/n", 0)
        thread = threading.Thread(target=read)
        thread.start()
        try:
            # The reference backend is fast enough to race hard; a server or
            # disk round trip per prune makes each step slow, so fewer steps.
            last = 400 if backend_factory.kind == "memory" else 40
            for i in range(1, last + 1):
                s.set("/n", i)
                writer_backend.prune_history(sid, 5)
                if errors:
                    break
        finally:
            done.set()
            thread.join()
        assert errors == []
        assert reader.get_state(sid) == {"n": last}


def test_writes_through_the_inner_store_during_refresh_stay_consistent(
    backend: StorageBackend,
) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid, synchronous=False) as store:
        stop = threading.Event()

        def refresh() -> None:
            while not stop.is_set():
                store.refresh()

        thread = threading.Thread(target=refresh)
        thread.start()
        try:
            for i in range(150):
                store.store.set("/n", i)
        finally:
            stop.set()
            thread.join()
        store.flush()
        assert backend.head_version(sid) == store.version == 150
        assert _reopened(backend, sid) == store.get_state() == {"n": 149}


# ------------------------------------------------------------------ item 6
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"limit": "x"}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": 1.5}, "limit"),
        ({"limit": True}, "limit"),
        ({"before": -5}, "before"),
        ({"before": -1}, "before"),
        ({"before": 2.0}, "before"),
        ({"before": "3"}, "before"),
    ],
)
def test_history_arguments_checked_alike(
    backend: StorageBackend, kwargs: dict[str, Any], name: str
) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid) as store:
        store.set("/a", 1)
        for call in (
            lambda: backend.get_version_history(sid, **kwargs),
            lambda: store.get_persistent_history(**kwargs),
        ):
            with pytest.raises(ValidationError) as info:
                call()
            assert info.value.field == name


def test_history_edge_arguments_answer_alike(backend: StorageBackend) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid) as store:
        store.set("/a", 1)
        store.set("/a", 2)
        for kwargs in ({"before": 0}, {"limit": 0}, {"before": 1}):
            assert backend.get_version_history(sid, **kwargs) == []
            assert store.get_persistent_history(**kwargs) == []
            assert store.history(**kwargs) == []
        assert [v.number for v in store.get_persistent_history(before=2)] == [1]


# ------------------------------------------------------------------ item 7
def test_metadata_size_is_limited(backend: StorageBackend) -> None:
    sid = _sid()
    with PersistentStateStore(backend, sid) as store:
        store.set("/a", 1)
        with pytest.raises(LimitExceededError) as info:
            store.set("/a", 2, metadata={"blob": "x" * 100_000})
        assert info.value.limit == "max_metadata_bytes"
        with pytest.raises(LimitExceededError):
            store.create_snapshot("s", {"blob": "x" * 100_000})
        assert store.version == backend.head_version(sid) == 1
        assert backend.list_snapshots(sid) == []


def test_close_reports_a_hopeless_conflict_at_once(backend_factory: BackendFactory) -> None:
    import time

    sid = _sid()
    store = PersistentStateStore(backend_factory(), sid, synchronous=False, retry_backoff=0.01)
    store.set("/a", 1)
    store.flush()
    # The server "came back empty": the state is gone behind the store's back.
    backend_factory().delete_state(sid)
    store.set("/a", 2)
    started = time.monotonic()
    with pytest.raises(StorageError, match="undelivered"):
        store.close(timeout=120)
    # A conflict no retry can fix is reported without waiting for the timeout.
    assert time.monotonic() - started < 60
    assert [v.number for v in store.pending_versions()] == [2]
