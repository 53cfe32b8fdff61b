"""Seeded sources for the inspector tests: a session with runs, an XSS value, a snapshot."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from agui_state import PersistentStateStore, StorageBackend, create_backend

XSS = "<img src=x onerror=alert(1)>"
_counter = itertools.count(1)


@dataclass
class Seeded:
    """A backend holding state ``thread-1`` (6 versions, one snapshot) and ``other``."""

    backend: StorageBackend
    url: str
    snapshot_id: str


def seed(backend: StorageBackend, url: str) -> Seeded:
    """Write the session every inspector test reads."""
    with PersistentStateStore(backend, "thread-1") as store:
        store.set(  # v1
            "/cart",
            {"items": [{"id": "a", "qty": 1}, {"id": "b", "qty": 2}], "total": 3},
            metadata={"agui": {"run_id": "run-1"}},
        )
        store.set("/note", XSS, metadata={"agui": {"run_id": "run-1"}})  # v2
        snap = store.create_snapshot("before-c")
        store.apply_patch(  # v3
            [
                {"op": "add", "path": "/cart/items/0", "value": {"id": "c", "qty": 5}},
                {"op": "replace", "path": "/cart/total", "value": 8},
            ],
            metadata={"agui": {"run_id": "run-2"}},
        )
        store.set("/ticks", 1, metadata={"agui": {"run_id": "run-2"}})  # v4
        store.set("/ticks", 2, metadata={"agui": {"run_id": "run-2"}})  # v5
        store.set("/cart/items/1/qty", 9, metadata={"agui": {"run_id": "run-3"}})  # v6
    with PersistentStateStore(backend, "other") as store:
        store.set("/x", 1)
    return Seeded(backend, url, snap.id)


@pytest.fixture
def file_url(tmp_path: Path) -> str:
    return f"file://{quote(str(tmp_path / 'data'))}"


@pytest.fixture
def seeded(file_url: str) -> Iterator[Seeded]:
    backend = create_backend(file_url)
    try:
        yield seed(backend, file_url)
    finally:
        backend.close()


@pytest.fixture(params=["file", "sqlite", "postgresql", "redis"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh private storage of each real backend kind (servers: shared session fixtures)."""
    n = next(_counter)
    kind = request.param
    if kind == "file":
        return f"file://{quote(str(tmp_path / 'data'))}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}schema={schema}&table_prefix=insp{n}_"
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}key_prefix={quote(prefix)}insp{n}:"
