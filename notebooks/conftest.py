"""Notebooks that need a server follow the suite's rule: skip locally, fail in CI.

A notebook declares the servers it needs in its metadata
(``{"agui_state": {"needs": ["redis", "postgresql"]}}``, see
``tests/servers/notebooks.py``). When one is unreachable, its cells are skipped
with the reason, unless ``CI=true``: then they run and fail, so CI never passes
by skipping quietly.
"""

from __future__ import annotations

import pytest

from tests.conftest import IN_CI
from tests.servers.notebooks import missing_server


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
