"""Fixtures of the data-layer tests: the backend conformance fixtures, on five kinds.

``backend`` / ``backend_factory`` come from :mod:`agui_state.testing`, the
storage targets from ``tests/backends/conftest.py``;
here they are parametrized over memory, file, SQLite and the real PostgreSQL
and Redis servers (the Redis Cluster and fsync variants test the backends,
not the data layer). ``seeded`` writes one known history through a
:class:`PersistentStateStore` (see :mod:`tests.jupyter._seed`).
"""

from __future__ import annotations

from typing import Any

import pytest

from agui_state.backends import StorageBackend
from agui_state.jupyter import source as source_mod
from agui_state.testing import BackendFactory
from agui_state.testing.fixtures import backend, backend_factory
from tests.backends.conftest import BACKEND_KINDS, backend_kind, backend_target

# The kit's fixtures and the backend tests' storage targets, used here by name.
__all__ = ["backend", "backend_factory", "backend_kind", "backend_target"]
from tests.jupyter._seed import Seeded, seed

DATA_KINDS = ("memory", "file", "sqlite", "postgresql", "redis")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test asking for a backend once per kind of :data:`DATA_KINDS`."""
    if "backend_kind" not in metafunc.fixturenames:
        return
    params = [pytest.param(kind, id=kind, marks=BACKEND_KINDS[kind]) for kind in DATA_KINDS]
    metafunc.parametrize("backend_kind", params, indirect=True)


@pytest.fixture
def seeded(backend: StorageBackend) -> Seeded:
    """The backend holding the known history of :func:`tests.jupyter._seed.seed`."""
    return seed(backend)


@pytest.fixture
def opened(backend_factory: BackendFactory, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every backend the data layer opens from a URL from now on, in order (to check closing).

    Skips on memory://, where a URL opens a new, empty backend.
    """
    if not backend_factory.cross_process:
        pytest.skip("memory:// opens a new, empty memory backend")
    backends: list[Any] = []
    real = source_mod.create_backend

    def spy(url: str) -> Any:
        backend = real(url)
        backends.append(backend)
        return backend

    monkeypatch.setattr(source_mod, "create_backend", spy)
    return backends
