"""Fixtures of the backend conformance suite: one ``backend`` per storage kind.

Every test that asks for ``backend`` (or ``backend_factory``) runs once per
backend kind below, with identical expectations: that is the conformance
suite (``test_conformance.py``). Each backend is built through
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

# The checks live in helper modules imported by test_conformance.py: have
# pytest rewrite their asserts too, so failures show the compared values.
pytest.register_assert_rewrite(
    "tests.backends._conformance_helpers",
    "tests.backends._conformance_origin",
    "tests.backends._conformance_states",
    "tests.backends._conformance_summaries",
    "tests.backends._conformance_versions",
    "tests.backends._conformance_writes",
)

from agui_state.backends import StorageBackend, create_backend  # noqa: E402

# id -> marks. "file-fsync" runs only the tests marked ``conformance_fsync``:
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance_fsync: also run this conformance test on the file backend with fsync=True",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that uses a backend over :data:`BACKEND_KINDS`."""
    if "backend_kind" not in metafunc.fixturenames:
        return
    with_fsync = metafunc.definition.get_closest_marker("conformance_fsync") is not None
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


@dataclass
class BackendTarget:
    """Where a test's storage lives.

    Attributes:
        kind: The backend kind (param id).
        url: URL opening this storage (from this or another process).
        shared_instances: Two instances built from ``url`` share their data.
            False for ``memory``, whose data lives in the backend object.
    """

    kind: str
    url: str
    shared_instances: bool = True


def _with_params(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


@pytest.fixture
def backend_target(
    backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> BackendTarget:
    """Build the URL of a fresh, private storage of ``backend_kind``."""
    n = next(_counter)
    if backend_kind == "memory":
        return BackendTarget(backend_kind, "memory://", shared_instances=False)
    if backend_kind in ("file", "file-fsync"):
        fsync = "true" if backend_kind == "file-fsync" else "false"
        base = quote(str(tmp_path / "data"))
        params = {"enable_sharding": "true", "shard_count": "4", "fsync": fsync}
        return BackendTarget(backend_kind, _with_params(f"file://{base}", params))
    if backend_kind == "sqlite":
        return BackendTarget(backend_kind, f"sqlite:///{quote(str(tmp_path / 'state.db'))}")
    if backend_kind == "postgresql":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        return BackendTarget(
            backend_kind, _with_params(url, {"schema": schema, "table_prefix": f"t{n}_"})
        )
    if backend_kind == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        return BackendTarget(backend_kind, _with_params(url, {"key_prefix": f"{prefix}{n}:"}))
    if backend_kind == "redis_cluster":
        url = request.getfixturevalue("redis_cluster_url")
        return BackendTarget(
            backend_kind, _with_params(url, {"key_prefix": f"agui-test:{_SESSION}:c{n}:"})
        )
    raise AssertionError(f"unknown backend kind {backend_kind!r}")


@dataclass
class BackendFactory:
    """Opens backend instances on one test's storage; closes them all at teardown.

    ``backend_factory()`` returns a new instance on the same storage as the
    ``backend`` fixture (for ``memory``, whose data lives in the object, the
    same instance). :attr:`url` opens that storage from a subprocess.
    """

    target: BackendTarget
    opened: list[StorageBackend] = field(default_factory=list)
    _primary: StorageBackend | None = None

    @property
    def url(self) -> str:
        """URL of the storage, for :func:`create_backend` in another process."""
        return self.target.url

    @property
    def kind(self) -> str:
        """The backend kind (param id)."""
        return self.target.kind

    @property
    def cross_process(self) -> bool:
        """Whether another process opening :attr:`url` sees the same data."""
        return self.target.shared_instances

    def primary(self) -> StorageBackend:
        """Return the first instance (the ``backend`` fixture), opening it once."""
        if self._primary is None:
            self._primary = self._open()
        return self._primary

    def __call__(self) -> StorageBackend:
        """Open another instance on the same storage."""
        if not self.target.shared_instances:
            return self.primary()
        if self._primary is None:
            return self.primary()
        return self._open()

    def _open(self) -> StorageBackend:
        backend = create_backend(self.target.url)
        self.opened.append(backend)
        return backend

    def close_all(self) -> None:
        """Close every opened instance (close is idempotent)."""
        errors: list[BaseException] = []
        for backend in reversed(self.opened):
            try:
                backend.close()
            except Exception as exc:  # close every instance, then report
                errors.append(exc)
        self.opened.clear()
        if errors:
            raise errors[0]


@pytest.fixture
def backend_factory(backend_target: BackendTarget) -> Iterator[BackendFactory]:
    """Factory of backend instances sharing this test's storage."""
    factory = BackendFactory(backend_target)
    yield factory
    factory.close_all()


@pytest.fixture
def backend(backend_factory: BackendFactory) -> StorageBackend:
    """A fresh, empty backend of the parametrized kind, closed after the test."""
    return backend_factory.primary()
