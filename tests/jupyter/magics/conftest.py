"""Fixtures of the ``%state`` tests: a real IPython shell that raises cell errors, and backends.

``ip`` is IPython's real ``InteractiveShell`` with ``%load_ext agui_state``
done; ``ip.run("...")`` runs a cell and re-raises its error (a failing cell
must fail the test, as it fails a notebook). Each test gets a fresh magic
(the extension is unloaded at teardown, closing its connections).

``state_url`` is a private storage URL per backend kind: file and SQLite in
``tmp_path``, PostgreSQL (own table prefix in the session schema) and Redis
(own key prefix) through the suite's real-server fixtures, which skip
locally and fail under ``CI=true`` when a server is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tests.test_persistent_support import url_for


class Shell:
    """A thin runner over the real shell."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell

    def run(self, source: str) -> Any:
        """Run one cell; return its value; re-raise its error."""
        result = self.shell.run_cell(source, store_history=False)
        result.raise_error()
        return result.result

    @property
    def ns(self) -> dict[str, Any]:
        return self.shell.user_ns

    @property
    def magic(self) -> Any:
        return self.shell.magics_manager.registry["StateMagic"]


@pytest.fixture(scope="session")
def _shell() -> InteractiveShell:
    from traitlets.config import Config

    # No history database: the tests need none, and IPython's atexit hook would
    # otherwise write to one in an IPython folder a notebook test may have
    # removed by then ("attempt to write a readonly database" at exit).
    config = Config()
    config.HistoryManager.enabled = False
    return InteractiveShell.instance(config=config)


@pytest.fixture
def ip(_shell: InteractiveShell) -> Iterator[Shell]:
    """The shell with a fresh ``%state`` loaded."""
    _shell.run_cell("%load_ext agui_state", store_history=False).raise_error()
    try:
        yield Shell(_shell)
    finally:
        _shell.run_cell("%unload_ext agui_state", store_history=False).raise_error()
        _shell.config.pop("StateMagic", None)  # %config lands in the shell's config: reset it


@pytest.fixture
def file_url(tmp_path: Path) -> str:
    """A private file-backend URL."""
    return f"file://{quote(str(tmp_path / 'data'))}?fsync=false"


@pytest.fixture(
    params=[
        "file",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A private storage URL of every backend kind (servers are real)."""
    return url_for(request.param, request, tmp_path)
