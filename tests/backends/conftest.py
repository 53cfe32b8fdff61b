"""Fixtures of the backend tests: one storage per backend kind, for the conformance kit.

:mod:`agui_state.testing` needs one fixture, ``backend_target``: here it is
parametrized over every backend kind below, so each test that asks for
``backend`` (or ``backend_factory``, both from the kit) runs once per kind,
with identical expectations. Each backend is built through
:func:`agui_state.backends.create_backend` from a URL, so the same URL can be
handed to a subprocess that opens the same storage.

Server-backed kinds fetch their session fixtures lazily with
``request.getfixturevalue``: a ``-k memory`` run never touches a server, and
an unreachable server skips (or fails under ``CI=true``) only its own params.

Isolation: files and SQLite databases live in ``tmp_path``; PostgreSQL tests
get their own ``table_prefix`` inside the session schema; Redis tests get
their own key prefix under the session prefix.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from agui_state.testing import BackendTarget, is_durability_check
from agui_state.testing.fixtures import backend, backend_factory

# The kit's fixtures, imported here so that every test of this folder has them.
__all__ = ["backend", "backend_factory", "backend_target"]

# id -> marks. "file-fsync" runs only the kit's ``durability_check`` tests:
# fsync makes every write slow, and the point is one durable variant, not a
# second full run of the file backend.
BACKEND_KINDS: dict[str, tuple[pytest.MarkDecorator, ...]] = {
    "memory": (),
    "file": (),
    "file-fsync": (),
    "sqlite": (),
    "postgresql": (pytest.mark.postgres,),
    "redis": (pytest.mark.redis,),
    "redis_cluster": (pytest.mark.redis_cluster,),
}
FSYNC_ONLY = {"file-fsync"}

_counter = itertools.count(1)
_SESSION = uuid.uuid4().hex[:8]  # keeps cluster key prefixes apart across runs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that uses a backend over :data:`BACKEND_KINDS`."""
    if "backend_kind" not in metafunc.fixturenames:
        return
    with_fsync = is_durability_check(metafunc.function)
    params = [
        pytest.param(kind, id=kind, marks=marks)
        for kind, marks in BACKEND_KINDS.items()
        if with_fsync or kind not in FSYNC_ONLY
    ]
    metafunc.parametrize("backend_kind", params, indirect=True)


@pytest.fixture
def backend_kind(request: pytest.FixtureRequest) -> str:
    """The backend kind this test runs on (a key of :data:`BACKEND_KINDS`)."""
    kind: str = request.param
    return kind


def _with_params(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


@pytest.fixture
def backend_target(
    backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> BackendTarget:
    """Build the URL of a fresh, private storage of ``backend_kind``."""
    n = next(_counter)
    if backend_kind == "memory":
        return BackendTarget(url="memory://", kind=backend_kind, shared_instances=False)
    if backend_kind in ("file", "file-fsync"):
        fsync = "true" if backend_kind == "file-fsync" else "false"
        base = quote(str(tmp_path / "data"))
        params = {"enable_sharding": "true", "shard_count": "4", "fsync": fsync}
        return BackendTarget(url=_with_params(f"file://{base}", params), kind=backend_kind)
    if backend_kind == "sqlite":
        url = f"sqlite:///{quote(str(tmp_path / 'state.db'))}"
        return BackendTarget(url=url, kind=backend_kind)
    if backend_kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        params = {"schema": schema, "table_prefix": f"t{n}_"}
        return BackendTarget(url=_with_params(url, params), kind=backend_kind)
    if backend_kind == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        params = {"key_prefix": f"{prefix}{n}:"}
        return BackendTarget(url=_with_params(url, params), kind=backend_kind)
    if backend_kind == "redis_cluster":
        url = request.getfixturevalue("redis_cluster_url")
        params = {"key_prefix": f"agui-test:{_SESSION}:c{n}:"}
        return BackendTarget(url=_with_params(url, params), kind=backend_kind)
    raise AssertionError(f"unknown backend kind {backend_kind!r}")
