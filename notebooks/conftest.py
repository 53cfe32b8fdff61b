"""Notebooks that need a server follow the suite's rule: skip locally, fail in CI.

A notebook declares the servers it needs in its metadata
(``{"agui_state": {"needs": ["redis", "postgresql"]}}``, see
``tests/servers/notebooks.py``). When one is unreachable, its cells are skipped
with the reason, unless ``CI=true``: then they run and fail, so CI never passes
by skipping quietly.

``00_start_here`` makes its demo store in ``AGUI_STATE_DEMO_DIR``; under test
that is a fresh temporary folder (the kernels inherit our environment), so a
reader's own ``notebooks/demo-store`` is never used or changed by a test run.
The kernels also get a private IPython dir whose config keeps ipykernel's
start-up log lines out of cell outputs (see ``tests/servers/notebooks.py``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.servers.notebooks import kernel_env, missing_server

_ROOT: Path | None = None
_SAVED: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Kernels inherit our environment: a temporary demo store and a quiet IPython dir."""
    global _ROOT
    _ROOT = Path(tempfile.mkdtemp(prefix="agui-nbtest-"))
    env = kernel_env(_ROOT)
    if "AGUI_STATE_DEMO_DIR" not in os.environ:
        env["AGUI_STATE_DEMO_DIR"] = str(_ROOT / "demo-store")
    for key, value in env.items():
        _SAVED[key] = os.environ.get(key)
        os.environ[key] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    for key, value in _SAVED.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if _ROOT is not None:
        shutil.rmtree(_ROOT, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IN_CI:
        return
    reasons: dict[str, str | None] = {}
    for item in items:
        if item.path.suffix != ".ipynb":
            continue
        key = str(item.path)
        if key not in reasons:
            reasons[key] = missing_server(item.path)
        reason = reasons[key]
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
