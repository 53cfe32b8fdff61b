"""The fixtures of the conformance suite, built on the one fixture a backend provides.

A test module that runs the suite defines ``backend_target``: the URL of a
fresh, empty storage for one test (or a :class:`BackendTarget` when two
instances opened from that URL do not share their data). From it come
``backend_factory`` (opens more instances on the same storage) and
``backend`` (the first instance), both closed after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from agui_state.backends import StorageBackend, create_backend

__all__ = [
    "BackendFactory",
    "BackendTarget",
    "backend",
    "backend_factory",
    "durability_check",
    "is_durability_check",
]

Func = TypeVar("Func", bound=Callable[..., Any])

_DURABLE = "agui_state_durability_check"


def durability_check(func: Func) -> Func:
    """Mark a check worth running on a durable (fsync) variant of a backend too.

    A plain attribute rather than a pytest marker, so that the kit needs no
    marker registration in a third party's configuration.
    """
    setattr(func, _DURABLE, True)
    return func


def is_durability_check(func: Callable[..., Any] | None) -> bool:
    """Whether ``func`` was marked with :func:`durability_check`."""
    return bool(getattr(func, _DURABLE, False))


@dataclass
class BackendTarget:
    """Where one test's storage lives.

    Attributes:
        url: URL opening this storage (from this or another process).
        kind: A name for messages (default: the URL's scheme).
        shared_instances: Two instances built from ``url`` share their data,
            also across processes. False for storage that lives inside the
            backend object (``memory://``): the checks that need a second
            instance then reuse the first, and the multi-process check skips.
    """

    url: str
    kind: str = ""
    shared_instances: bool = True

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = self.url.split(":", 1)[0]


@dataclass
class BackendFactory:
    """Opens backend instances on one test's storage; closes them all at teardown.

    ``backend_factory()`` returns a new instance on the same storage as the
    ``backend`` fixture (for storage that lives in the object, the same
    instance). :attr:`url` opens that storage from a subprocess.
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
        """The backend kind, for messages."""
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
        if not self.target.shared_instances or self._primary is None:
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
def backend_factory(backend_target: BackendTarget | str) -> Iterator[BackendFactory]:
    """Factory of backend instances sharing this test's storage."""
    target = (
        backend_target
        if isinstance(backend_target, BackendTarget)
        else BackendTarget(url=backend_target)
    )
    factory = BackendFactory(target)
    yield factory
    factory.close_all()


@pytest.fixture
def backend(backend_factory: BackendFactory) -> StorageBackend:
    """A fresh, empty backend on this test's storage, closed after the test."""
    return backend_factory.primary()
