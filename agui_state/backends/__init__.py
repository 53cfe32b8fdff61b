"""Storage backends: the contract, the registry and the built-in backends.

Backends with optional drivers (SQL on PostgreSQL, Redis) are imported lazily
by :func:`create_backend`; import their modules directly only when needed.
"""

from agui_state.backends.base import (
    BatchTransaction,
    Checkpoint,
    StorageBackend,
    Transaction,
    Write,
    validate_state_id,
)
from agui_state.backends.memory import MemoryBackend
from agui_state.backends.registry import available_backends, create_backend, register_backend

__all__ = [
    "BatchTransaction",
    "Checkpoint",
    "MemoryBackend",
    "StorageBackend",
    "Transaction",
    "Write",
    "available_backends",
    "create_backend",
    "register_backend",
    "validate_state_id",
]
