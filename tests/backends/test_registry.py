"""The backend registry: URLs to backends, third-party registration, install hints."""

from __future__ import annotations

from typing import Any

import pytest

from agui_state.backends import (
    MemoryBackend,
    available_backends,
    create_backend,
    register_backend,
)
from agui_state.backends import registry as _registry
from agui_state.config import StorageConfig
from agui_state.errors import ConfigError


def test_memory_url() -> None:
    backend = create_backend("memory://")
    assert isinstance(backend, MemoryBackend)
    assert backend.stats()["backend_type"] == "memory"


def test_builtins_listed() -> None:
    assert {"memory", "file", "sqlite", "postgresql", "redis"} <= set(available_backends())


def test_register_third_party_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_custom", {})
    seen: list[StorageConfig] = []

    def factory(config: StorageConfig) -> Any:
        seen.append(config)
        return MemoryBackend(config)

    register_backend("acme", factory)
    backend = create_backend("acme://bucket/x?region=eu")
    assert isinstance(backend, MemoryBackend)
    assert seen[0].type == "acme" and seen[0].extra == {"region": "eu"}
    with pytest.raises(ConfigError, match="already registered"):
        register_backend("acme", factory)
    register_backend("acme", factory, replace=True)
    with pytest.raises(ConfigError, match="already registered"):
        register_backend("memory", factory)
    with pytest.raises(ConfigError):
        register_backend("bad name!", factory)


def test_unknown_type() -> None:
    with pytest.raises(ConfigError, match="unknown backend type 'nope'"):
        create_backend(StorageConfig(type="nope"))


def test_missing_driver_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_registry._BUILTIN, "redis", ("agui_state_no_such_module:X", "redis"))
    with pytest.raises(ConfigError, match=r"pip install 'agui-state\[redis\]'"):
        create_backend("redis://127.0.0.1:1/0")


def test_not_a_config() -> None:
    with pytest.raises(ConfigError):
        create_backend(42)  # type: ignore[arg-type]
