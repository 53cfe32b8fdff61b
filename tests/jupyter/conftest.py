"""Fixtures of the data-layer tests: the backend conformance fixtures, on five kinds.

``backend`` / ``backend_factory`` come from :mod:`agui_state.testing`, the
storage targets from ``tests/backends/conftest.py``;
here they are parametrized over memory, file, SQLite and the real PostgreSQL
and Redis servers (the Redis Cluster and fsync variants test the backends,
not the data layer). ``seeded`` writes one known history through a
:class:`PersistentStateStore` (see :mod:`tests.jupyter._seed`).
"""

from __future__ import annotations

import pytest

from agui_state.backends import StorageBackend
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
