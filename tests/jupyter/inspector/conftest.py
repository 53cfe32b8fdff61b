"""Seeded sources for the inspector tests: a session with runs, an XSS value, a snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from agui_state import PersistentStateStore, StorageBackend, create_backend
from tests.test_persistent_support import url_for

XSS = "<img src=x onerror=alert(1)>"


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
    if request.param == "file":  # with the default fsync, unlike url_for's
        return f"file://{quote(str(tmp_path / 'data'))}"
    return url_for(request.param, request, tmp_path)
