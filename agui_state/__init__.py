"""agui-state: versioned, persistent AG-UI shared state.

The JSON document an AG-UI agent shares with its UI, changed by RFC 6902 JSON
Patch deltas, kept with a gap-free version history, snapshots and
transactions, and persisted in pluggable backends (files, SQLite/PostgreSQL,
Redis).

Importing this package is light: optional drivers (redis, psycopg, pandas,
ipywidgets, ag_ui) are imported only by the modules that need them.
"""

from typing import Any

from agui_state.backends import StorageBackend, create_backend, register_backend
from agui_state.config import FileOptions, PostgreSQLOptions, RedisOptions, StorageConfig
from agui_state.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    CorruptDataError,
    InvalidPathError,
    LimitExceededError,
    NotFoundError,
    PatchError,
    QueueFullError,
    StateError,
    StorageError,
    TransactionError,
    ValidationError,
)
from agui_state.migration import export_data, import_data, migrate
from agui_state.models import StateSnapshot, StateVersion
from agui_state.persistent import PersistentStateStore, PersistentTransaction
from agui_state.store import StateChange, StateStore, StoreLimits, StoreOptions, StoreTransaction

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext agui_state``: register the ``%state`` magics (IPython imported only here)."""
    from agui_state.jupyter.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext agui_state``: close the magics' connections and remove ``%state``."""
    from agui_state.jupyter.magics import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "BackendTimeoutError",
    "BackendUnavailableError",
    "ConfigError",
    "ConflictError",
    "CorruptDataError",
    "FileOptions",
    "InvalidPathError",
    "LimitExceededError",
    "NotFoundError",
    "PatchError",
    "PersistentStateStore",
    "PersistentTransaction",
    "PostgreSQLOptions",
    "QueueFullError",
    "RedisOptions",
    "StateChange",
    "StateError",
    "StateSnapshot",
    "StateStore",
    "StateVersion",
    "StorageBackend",
    "StorageConfig",
    "StorageError",
    "StoreLimits",
    "StoreOptions",
    "StoreTransaction",
    "TransactionError",
    "ValidationError",
    "__version__",
    "create_backend",
    "export_data",
    "import_data",
    "migrate",
    "register_backend",
]
