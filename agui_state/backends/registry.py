"""Choose a backend by type or URL scheme, importing it only when used.

Built-in backends are registered as ``"module:Class"`` strings so that
importing :mod:`agui_state` never imports SQLAlchemy drivers or redis-py; the
module is imported on first use, and a missing optional dependency becomes a
:class:`~agui_state.errors.ConfigError` with the ``pip install`` hint.

Third parties register their own without editing the package::

    register_backend("s3", lambda config: S3Backend(config))
    create_backend("s3://bucket/prefix")
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from agui_state.config import StorageConfig
from agui_state.errors import ConfigError

if TYPE_CHECKING:
    from agui_state.backends.base import StorageBackend

__all__ = ["BackendFactory", "available_backends", "create_backend", "register_backend"]

BackendFactory = Callable[[StorageConfig], "StorageBackend"]

# type -> (import target "module:Class", pip extra that provides its driver)
_BUILTIN: dict[str, tuple[str, str | None]] = {
    "memory": ("agui_state.backends.memory:MemoryBackend", None),
    "file": ("agui_state.backends.file:FileBackend", None),
    "sqlite": ("agui_state.backends.sql:SQLBackend", None),
    "postgresql": ("agui_state.backends.sql:SQLBackend", "postgres"),
    "redis": ("agui_state.backends.redis:RedisBackend", "redis"),
}

_lock = threading.Lock()
_custom: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Register a backend factory under a type name (also its URL scheme).

    Args:
        name: The backend type, e.g. ``"s3"``; URLs ``s3://...`` will use it.
        factory: Called with the :class:`StorageConfig`; returns a backend.
        replace: Allow replacing an existing registration.

    Raises:
        ConfigError: The name is taken (and ``replace`` is false) or invalid.
    """
    if (
        not isinstance(name, str)
        or not name
        or not name.replace("+", "").replace("-", "").isalnum()
    ):
        raise ConfigError("type", f"backend name must be alphanumeric, got {name!r}")
    with _lock:
        if not replace and (name in _custom or name in _BUILTIN):
            raise ConfigError("type", f"backend {name!r} is already registered")
        _custom[name] = factory


def available_backends() -> list[str]:
    """Return the registered backend type names (built-in and custom)."""
    with _lock:
        return sorted(set(_BUILTIN) | set(_custom))


def _load_builtin(btype: str) -> BackendFactory:
    target, extra = _BUILTIN[btype]
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"pip install 'agui-state[{extra}]'" if extra else "reinstall agui-state"
        raise ConfigError(
            "type", f"the {btype} backend needs a missing dependency ({exc.name}); {hint}"
        ) from exc
    factory: BackendFactory = getattr(module, class_name)
    return factory


def create_backend(config_or_url: StorageConfig | str) -> StorageBackend:
    """Create a backend from a configuration or a URL.

    Args:
        config_or_url: A :class:`StorageConfig` or a URL such as
            ``file:///var/lib/agui``, ``sqlite:///state.db`` or ``redis://host``.

    Returns:
        A ready backend.

    Raises:
        ConfigError: Unknown type, invalid configuration, or a missing driver.
        BackendUnavailableError: The backend could not be reached.
    """
    config = (
        StorageConfig.from_url(config_or_url) if isinstance(config_or_url, str) else config_or_url
    )
    if not isinstance(config, StorageConfig):
        raise ConfigError(
            "config", f"expected a StorageConfig or URL, got {type(config_or_url).__name__}"
        )
    config.validate()
    with _lock:
        custom = _custom.get(config.type)
    if custom is not None:
        return custom(config)
    if config.type not in _BUILTIN:
        raise ConfigError(
            "type", f"unknown backend type {config.type!r}; known: {available_backends()}"
        )
    return _load_builtin(config.type)(config)
