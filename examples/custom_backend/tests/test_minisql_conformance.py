"""The example backend passes agui-state's conformance kit, found by entry point.

The whole kit comes in with one star import; the one fixture it needs,
``backend_target``, gives the URL of a fresh database per test.
"""

from __future__ import annotations

import importlib.metadata
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from agui_state import PersistentStateStore, create_backend
from agui_state.backends import available_backends
from agui_state.errors import ConfigError
from agui_state.testing.suite import *  # noqa: F403  (the checks and their fixtures)

if not importlib.metadata.entry_points(group="agui_state.backends", name="minisql"):
    # Installed by the README's test command (pip install -e ./examples/custom_backend).
    message = "agui-state-minisql is not installed: pip install -e ./examples/custom_backend"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

from minisql_backend import MiniSQLBackend, MiniSQLOptions


@pytest.fixture
def backend_target(tmp_path: Path) -> str:
    return f"minisql://{quote(str(tmp_path / 'state.db'))}"


def test_the_entry_point_resolves_to_the_example_class(tmp_path: Path) -> None:
    (point,) = importlib.metadata.entry_points(group="agui_state.backends", name="minisql")
    assert point.load() is MiniSQLBackend
    assert "minisql" in available_backends()
    with create_backend(f"minisql://{tmp_path / 'a.db'}") as backend:
        assert type(backend) is MiniSQLBackend
        backend.set_state("t", {"a": 1})
    # The data is in a plain SQLite file, readable without agui-state.
    with sqlite3.connect(tmp_path / "a.db") as db:
        assert db.execute("SELECT state_id, head FROM states").fetchall() == [("t", 0)]


def test_url_options_are_parsed_into_typed_options(tmp_path: Path) -> None:
    url = f"minisql://{tmp_path / 'b.db'}?busy_timeout=2.5&synchronous=FULL&checkpoint_interval=7"
    with create_backend(url) as backend:
        assert isinstance(backend, MiniSQLBackend)
        assert backend.options == MiniSQLOptions(busy_timeout=2.5, synchronous="FULL")
        assert backend.config.checkpoint_interval == 7  # a core option stays core
    with pytest.raises(ConfigError) as exc:
        create_backend(f"minisql://{tmp_path / 'c.db'}?busy_timeout=soon")
    assert exc.value.field == "busy_timeout"
    with pytest.raises(ConfigError) as exc:
        create_backend(f"minisql://{tmp_path / 'c.db'}?journal=off")
    assert exc.value.field == "journal"


def test_a_persistent_store_on_the_example_backend(tmp_path: Path) -> None:
    url = f"minisql://{tmp_path / 'd.db'}"
    with PersistentStateStore(url, "thread-1") as store:
        store.apply_patch([{"op": "add", "path": "/cart", "value": ["tea"]}])
        store.set("/cart/-", "cake")
    with PersistentStateStore(url, "thread-1") as again:
        assert again.get_state() == {"cart": ["tea", "cake"]}
        assert again.version == 2
