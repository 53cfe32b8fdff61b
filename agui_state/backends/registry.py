"""Choose a backend by type or URL scheme, importing it only when used.

Built-in backends are registered as ``"module:Class"`` strings so that
importing :mod:`agui_state` never imports SQLAlchemy drivers or redis-py; the
module is imported on first use, and a missing optional dependency becomes a
:class:`~agui_state.errors.ConfigError` with the ``pip install`` hint.

Third parties register their own without editing the package, either in
code::

    register_backend("s3", lambda config: S3Backend(config))
    create_backend("s3://bucket/prefix")

or by entry point in their distribution's ``pyproject.toml``, found lazily
(the first time a URL names the type) in every process that has the
distribution installed::

    [project.entry-points."agui_state.backends"]
    s3 = "my_package.backend:S3Backend"

Lookup order: :func:`register_backend` registrations, then the built-in
backends (an entry point cannot shadow them), then entry points.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from agui_state.config import StorageConfig
from agui_state.errors import ConfigError

if TYPE_CHECKING:
    from agui_state.backends.base import StorageBackend

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendFactory",
    "as_config",
    "available_backends",
    "create_backend",
    "register_backend",
]

ENTRY_POINT_GROUP = "agui_state.backends"
"""The entry-point group third-party backends register under (name: the URL scheme)."""

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
_discovered: dict[str, BackendFactory] = {}  # entry points already loaded


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
    """Return the backend type names: built-in, registered and installed by entry point."""
    installed = {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    with _lock:
        return sorted(set(_BUILTIN) | set(_custom) | installed)


def _load_entry_point(btype: str) -> BackendFactory | None:
    """Load the factory an installed distribution registers for ``btype``, or None."""
    with _lock:
        found = _discovered.get(btype)
    if found is not None:
        return found
    points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=btype)
    if not points:
        return None
    point = sorted(points, key=lambda ep: ep.value)[0]
    try:
        loaded = point.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            "type", f"the {btype} backend's entry point {point.value!r} cannot be loaded: {exc}"
        ) from exc
    if not callable(loaded):
        raise ConfigError(
            "type", f"the {btype} backend's entry point {point.value!r} is not callable"
        )
    factory: BackendFactory = loaded
    with _lock:
        _discovered.setdefault(btype, factory)
    return factory


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


def as_config(config_or_url: StorageConfig | str) -> StorageConfig:
    """Return the validated configuration a :class:`StorageConfig` or a URL describes.

    Raises:
        ConfigError: Neither a configuration nor a URL, or an invalid configuration.
    """
    config = (
        StorageConfig.from_url(config_or_url) if isinstance(config_or_url, str) else config_or_url
    )
    if not isinstance(config, StorageConfig):
        raise ConfigError(
            "config", f"expected a StorageConfig or URL, got {type(config_or_url).__name__}"
        )
    config.validate()
    return config


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
    config = as_config(config_or_url)
    with _lock:
        custom = _custom.get(config.type)
    if custom is not None:
        return custom(config)
    if config.type in _BUILTIN:
        return _load_builtin(config.type)(config)
    discovered = _load_entry_point(config.type)
    if discovered is None:
        raise ConfigError(
            "type", f"unknown backend type {config.type!r}; known: {available_backends()}"
        )
    return discovered(config)
