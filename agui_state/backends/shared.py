"""One backend per configuration per process, shared by reference count.

A server opens one :class:`~agui_state.persistent.PersistentStateStore` per
thread (AG-UI conversation), by URL. If each built its own backend, each
would own an engine and a connection pool: 100 stores would take all of a
default PostgreSQL's 100 connections, and Redis would hold one client
connection per store. Instead :func:`lease_backend` hands every store opened
with the same configuration the *same* backend object (so one engine / one
pool per URL), and counts the leases; the last :meth:`BackendLease.close`
closes the backend.

* The key is the whole configuration (URL, schema, pool size, timeouts,
  options...): two configurations differing in anything get two backends.
  It is kept in memory only, never shown (it holds the password).
* The key includes the process id: a forked child never reuses the parent's
  pooled connections.
* ``memory`` backends are never shared: each ``memory://`` store keeps its own
  private storage, as before.
* A store given a backend *object* uses that object and never closes it;
  that is how a store gets a backend of its own.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass

from agui_state.backends.base import StorageBackend
from agui_state.backends.registry import as_config, create_backend
from agui_state.config import StorageConfig

__all__ = ["BackendLease", "lease_backend", "shared_backend_count"]

_UNSHARED = frozenset({"memory"})


@dataclass
class _Entry:
    backend: StorageBackend
    leases: int


_lock = threading.Lock()
_shared: dict[tuple[int, str], _Entry] = {}


class BackendLease:
    """A store's hold on a (possibly shared) backend.

    Attributes:
        backend: The backend to use; do not close it directly.
        shared: Whether other leases may hold the same backend.
    """

    def __init__(self, backend: StorageBackend, key: tuple[int, str] | None) -> None:
        self.backend = backend
        self.shared = key is not None
        self._key = key
        self._released = False
        self._release_lock = threading.Lock()

    def close(self) -> None:
        """Release the lease; the last one closes the backend. Idempotent."""
        with self._release_lock:
            if self._released:
                return
            self._released = True
        if self._key is None:
            self.backend.close()
            return
        with _lock:
            entry = _shared.get(self._key)
            last = entry is not None and entry.backend is self.backend and entry.leases == 1
            if entry is not None and entry.backend is self.backend:
                entry.leases -= 1
                if last:
                    del _shared[self._key]
        if last:
            self.backend.close()


def _key(config: StorageConfig) -> tuple[int, str]:
    # Every field counts (default=repr covers values json cannot encode).
    text = json.dumps(asdict(config), sort_keys=True, default=repr)
    return os.getpid(), text


def lease_backend(config_or_url: StorageConfig | str, *, shared: bool = True) -> BackendLease:
    """Return a lease on the process's backend for this configuration.

    Args:
        config_or_url: A :class:`StorageConfig` or a backend URL.
        shared: ``False`` always builds a private backend (closed with the lease).

    Raises:
        ConfigError: The configuration is invalid or its driver is missing.
        BackendUnavailableError: A new backend could not reach its server.
    """
    config = as_config(config_or_url)
    if not shared or config.type in _UNSHARED:
        return BackendLease(create_backend(config), None)
    key = _key(config)
    with _lock:
        # Created under the lock so concurrent first opens build one backend.
        entry = _shared.get(key)
        if entry is None:
            entry = _Entry(create_backend(config), 0)
            _shared[key] = entry
        entry.leases += 1
        return BackendLease(entry.backend, key)


def shared_backend_count() -> int:
    """Return how many shared backends are open in this process."""
    with _lock:
        return sum(1 for pid, _ in _shared if pid == os.getpid())
