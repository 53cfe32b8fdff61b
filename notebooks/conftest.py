"""Notebooks that need a server follow the suite's rule: skip locally, fail in CI.

A notebook declares the server it needs in its file name (``*_redis.ipynb``).
When that server is unreachable, its cells are skipped with the reason, unless
``CI=true``: then they run and fail, so CI never passes by skipping quietly.
"""

from __future__ import annotations

import pytest

from tests.conftest import IN_CI, REDIS_URL


def _redis_unreachable() -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'agui-state[redis]')"
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        return f"Redis not reachable at AGUI_STATE_REDIS_URL ({type(exc).__name__}: {exc})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs_redis = [item for item in items if item.path.name.endswith("_redis.ipynb")]
    if not needs_redis or IN_CI:
        return
    reason = _redis_unreachable()
    if reason is not None:
        for item in needs_redis:
            item.add_marker(pytest.mark.skip(reason=reason))
