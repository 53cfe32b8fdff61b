"""Shared fixtures: real servers (PostgreSQL, Redis) and their isolation.

Server tests need a real server. The URLs come from the environment:

* ``AGUI_STATE_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
* ``AGUI_STATE_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``)

When a server is unreachable its tests are skipped with the reason, except
under ``CI=true`` where they fail: CI must never pass by skipping quietly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from agui_state.config import redact_url

POSTGRES_URL = os.environ.get(
    "AGUI_STATE_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AGUI_STATE_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

RUN_ID = uuid.uuid4().hex[:8]
"""Unique per test session: isolates schemas and key prefixes of parallel runs."""


def server_missing(what: str, url: str, exc: BaseException, env_var: str) -> None:
    """Skip (locally) or fail (in CI) because a server is unreachable."""
    reason = (
        f"{what} not reachable at {redact_url(url)} ({type(exc).__name__}: {exc}); "
        f"start it or point {env_var} at one"
    )
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL URL (SQLAlchemy form, psycopg 3 driver)."""
    try:
        import psycopg
    except ImportError as exc:
        server_missing("PostgreSQL driver", POSTGRES_URL, exc, "AGUI_STATE_POSTGRES_URL")
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(plain, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        server_missing("PostgreSQL", POSTGRES_URL, exc, "AGUI_STATE_POSTGRES_URL")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A schema private to this test session, dropped at the end."""
    import psycopg

    schema = f"agui_test_{RUN_ID}"
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    yield schema
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis URL."""
    try:
        import redis
    except ImportError as exc:
        server_missing("Redis driver", REDIS_URL, exc, "AGUI_STATE_REDIS_URL")
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        server_missing("Redis", REDIS_URL, exc, "AGUI_STATE_REDIS_URL")
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix private to this test session; its keys are deleted at the end."""
    import redis

    prefix = f"agui-test:{RUN_ID}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix.replace("[", "\\[") + "*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """URL (``redis+cluster://``) of a three-node Redis Cluster started for this session.

    Needs the ``redis-server`` and ``redis-cli`` binaries on PATH; the nodes
    run on free loopback ports and are stopped at the end of the session.
    """
    from tests.servers.redis_cluster import BINARIES, start_redis_cluster

    where = "redis+cluster://127.0.0.1 (started by the test suite)"
    try:
        import redis  # noqa: F401
    except ImportError as exc:
        server_missing("Redis driver", where, exc, "PATH")
    from tests.servers._process import missing_binaries

    missing = missing_binaries(BINARIES)
    if missing:
        exc = FileNotFoundError(f"{', '.join(missing)} not on PATH")
        server_missing("Redis Cluster binaries", where, exc, "PATH")
    try:
        cluster = start_redis_cluster()
    except Exception as exc:
        server_missing("Redis Cluster", where, exc, "PATH")
    try:
        yield cluster.url
    finally:
        cluster.stop()
