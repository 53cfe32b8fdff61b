"""The backend registry: URLs to backends, third-party registration, install hints."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agui_state.backends import (
    MemoryBackend,
    available_backends,
    create_backend,
    register_backend,
)
from agui_state.backends import registry as _registry
from agui_state.config import StorageConfig, parse_options
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


def _install_entry_points(root: Path, lines: dict[str, str]) -> None:
    """Make a minimal installed distribution under ``root`` declaring entry points.

    importlib.metadata finds distributions through ``sys.path``: this is the
    real lookup a pip-installed backend goes through, without installing one.
    """
    info = root / "acme_backends-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-backends\nVersion: 1.0\n")
    body = "".join(f"{name} = {target}\n" for name, target in lines.items())
    (info / "entry_points.txt").write_text(f"[{_registry.ENTRY_POINT_GROUP}]\n{body}")
    (root / "acme_backend_mod.py").write_text(
        "from agui_state.backends import MemoryBackend\n\n"
        "class AcmeBackend(MemoryBackend):\n    backend_type = 'acme'\n"
    )


@pytest.fixture
def entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_entry_points(
        tmp_path,
        {
            "acmeep": "acme_backend_mod:AcmeBackend",
            "broken": "acme_backend_mod:NoSuchClass",
            "memory": "acme_backend_mod:AcmeBackend",  # must not shadow the built-in
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_registry, "_discovered", {})
    monkeypatch.delitem(sys.modules, "acme_backend_mod", raising=False)


@pytest.mark.usefixtures("entry_points")
def test_entry_point_backend_is_found_lazily() -> None:
    assert "acme_backend_mod" not in sys.modules  # nothing imported before a URL asks
    assert "acmeep" in available_backends()
    backend = create_backend("acmeep://anything?region=eu")
    assert type(backend).__name__ == "AcmeBackend"
    assert type(backend).__module__ == "acme_backend_mod"
    assert backend.config.extra == {"region": "eu"}
    # A built-in wins over an entry point of the same name.
    assert type(create_backend("memory://")) is MemoryBackend


@pytest.mark.usefixtures("entry_points")
def test_broken_entry_point_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        create_backend("broken://x")
    assert exc.value.field == "type"
    assert "acme_backend_mod:NoSuchClass" in str(exc.value)


def test_parse_options_types_and_names_the_bad_parameter() -> None:
    @dataclass(frozen=True)
    class Options:
        region: str = "us"
        parts: int = 4
        fast: bool = False
        timeout: float = 1.0

    assert parse_options(Options, {}) == Options()
    got = parse_options(Options, {"region": "eu", "parts": "16", "fast": "yes", "timeout": "2.5"})
    assert got == Options("eu", 16, True, 2.5)
    with pytest.raises(ConfigError) as exc:
        parse_options(Options, {"parts": "many"})
    assert exc.value.field == "parts"
    with pytest.raises(ConfigError) as exc:
        parse_options(Options, {"colour": "blue"})
    assert exc.value.field == "colour"
