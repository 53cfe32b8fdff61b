"""Fixtures and fakes shared by the persistent-store and migration tests.

* ``persistent_url``: one fresh storage per test, parametrized over memory,
  file, sqlite, postgresql and redis. Server kinds use the session fixtures
  of ``tests/conftest.py`` with a private table prefix / key prefix; a kind
  whose backend module is not importable yet is skipped with the reason.
* ``target``: opens stores and extra backend instances on that storage
  (memory data lives in one backend object, shared by every "instance").
* :class:`FailingBackend`: a memory backend whose writes fail on demand.

This module holds no tests of its own; the test modules import from it.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from agui_state.backends import MemoryBackend, StorageBackend, Write, create_backend
from agui_state.errors import StorageError
from agui_state.persistent import PersistentStateStore

_counter = itertools.count(1)

# kind -> marks
KINDS: dict[str, tuple[pytest.MarkDecorator, ...]] = {
    "memory": (),
    "file": (),
    "sqlite": (),
    "postgresql": (pytest.mark.postgres,),
    "redis": (pytest.mark.redis,),
}


def _with_params(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of a fresh, private storage of ``kind``."""
    n = next(_counter)
    if kind == "memory":
        return "memory://"
    if kind == "file":
        return _with_params(f"file://{quote(str(tmp_path / f'files{n}'))}", {"fsync": "false"})
    if kind == "sqlite":
        return f"sqlite:///{quote(str(tmp_path / f'state{n}.db'))}"
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        return _with_params(url, {"schema": schema, "table_prefix": f"p{n}_"})
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        return _with_params(url, {"key_prefix": f"{prefix}p{n}:"})
    raise AssertionError(kind)


@pytest.fixture(params=[pytest.param(k, marks=m, id=k) for k, m in KINDS.items()])
def persistent_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh storage of each backend kind."""
    return url_for(request.param, request, tmp_path)


@dataclass
class Target:
    """Opens stores and backend instances on one test's storage."""

    url: str
    memory: MemoryBackend | None = None
    opened: list[StorageBackend] = field(default_factory=list)
    stores: list[PersistentStateStore] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.url.split(":", 1)[0]

    def backend(self) -> StorageBackend:
        """Open another backend instance on the same storage."""
        if self.memory is not None:
            return self.memory
        backend = create_backend(self.url)
        self.opened.append(backend)
        return backend

    def open(self, state_id: str = "s", **kwargs: Any) -> PersistentStateStore:
        """Open a store on the storage (owning its backend unless memory)."""
        source: Any = self.memory if self.memory is not None else self.url
        store = PersistentStateStore(source, state_id, **kwargs)
        self.stores.append(store)
        return store

    def cleanup(self) -> None:
        for store in self.stores:
            with contextlib.suppress(StorageError):  # a test may leave it undeliverable
                store.close(timeout=2)
        for backend in self.opened:
            backend.close()


@pytest.fixture
def target(persistent_url: str) -> Iterator[Target]:
    """A storage of each backend kind, with helpers to open stores on it."""
    tgt = Target(persistent_url, MemoryBackend() if persistent_url == "memory://" else None)
    yield tgt
    tgt.cleanup()


class FailingBackend(MemoryBackend):
    """A memory backend whose ``write_batch`` fails on demand.

    Attributes:
        fail_next: Fail this many upcoming writes, then succeed.
        down: Fail every write while true.
        fail_after: Succeed this many more writes, then fail all (None: off).
        gate: When set, writes wait for this event before proceeding.
        batches: Sizes of the successful batches, in order.
        attempts: Number of write_batch calls.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = 0
        self.down = False
        self.fail_after: int | None = None
        self.gate: threading.Event | None = None
        self.batches: list[int] = []
        self.attempts = 0
        self.entered = threading.Event()

    def write_batch(self, writes: Sequence[Write]) -> None:
        self.attempts += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.down:
            raise StorageError("injected failure: backend down", backend="memory")
        if self.fail_next > 0:
            self.fail_next -= 1
            raise StorageError("injected failure", backend="memory")
        if self.fail_after is not None:
            if self.fail_after <= 0:
                raise StorageError("injected failure after some batches", backend="memory")
            self.fail_after -= 1
        super().write_batch(writes)
        self.batches.append(len(writes))


def assert_same_history(a: StorageBackend, b: StorageBackend, state_id: str) -> None:
    """Assert two backends hold the same history, state and snapshots of a state."""
    assert a.head_version(state_id) == b.head_version(state_id)
    va = [v.to_dict() for v in a.get_versions(state_id)]
    vb = [v.to_dict() for v in b.get_versions(state_id)]
    assert va == vb
    assert a.get_state(state_id) == b.get_state(state_id)
    sa = [s.to_dict() for s in a.list_snapshots(state_id)]
    sb = [s.to_dict() for s in b.list_snapshots(state_id)]
    assert sa == sb


def assert_gap_free(backend: StorageBackend, state_id: str, head: int) -> None:
    """Assert versions 1..head are all stored, each child of the previous."""
    versions = backend.get_versions(state_id)
    assert [v.number for v in versions] == list(range(1, head + 1))
    for prev, cur in itertools.pairwise(versions):
        assert cur.parent_id == prev.id
