"""Which servers a notebook needs, and whether they are reachable.

A notebook declares the servers it needs in its metadata::

    "metadata": {"agui_state": {"needs": ["redis", "postgresql"]}}

Both notebook checks (nbval through ``notebooks/conftest.py`` and nbclient in
``tests/test_notebooks.py``) use :func:`missing_server` to follow the suite's
rule: skip locally with the reason, fail under ``CI=true``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from agui_state.config import redact_url
from tests.conftest import POSTGRES_URL, REDIS_URL

__all__ = ["missing_server", "needs"]


def needs(path: Path) -> list[str]:
    """The servers a notebook declares in ``metadata.agui_state.needs``."""
    nb = nbformat.read(path, as_version=4)
    declared = nb.metadata.get("agui_state", {}).get("needs", [])
    return [str(name) for name in declared]


def _redis() -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'agui-state[redis]')"
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        where = redact_url(REDIS_URL)
        return (
            f"Redis not reachable at {where} ({type(exc).__name__}: {exc}); "
            "set AGUI_STATE_REDIS_URL"
        )
    return None


def _postgresql() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'agui-state[postgres]')"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(plain, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        where = redact_url(POSTGRES_URL)
        return (
            f"PostgreSQL not reachable at {where} ({type(exc).__name__}: {exc}); "
            "set AGUI_STATE_POSTGRES_URL"
        )
    return None


_CHECKS = {"redis": _redis, "postgresql": _postgresql}


def missing_server(path: Path) -> str | None:
    """Why a notebook cannot run here (a server it needs is unreachable), or ``None``."""
    for name in needs(path):
        check = _CHECKS.get(name)
        if check is None:
            return f"{path.name} declares an unknown server {name!r} (known: {sorted(_CHECKS)})"
        reason = check()
        if reason is not None:
            return reason
    return None


KERNEL_CONFIG = (
    "# Written by the test suite: a private IPython dir for notebook kernels.\n"
    "# ipykernel logs start-up warnings (e.g. 'running over TCP without encryption')\n"
    "# after it starts forwarding stderr, so they can land in a cell's outputs and\n"
    "# make nbval compare against a line that is there on one run and not the next.\n"
    'c.IPKernelApp.log_level = "ERROR"\n'
)


def kernel_env(folder: Path) -> dict[str, str]:
    """Environment for the kernels of notebook tests: a private, quiet ``IPYTHONDIR``.

    Also keeps a reader's own IPython profile (startup files, history) out of
    test runs.
    """
    profile = folder / "ipython" / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "ipython_kernel_config.py").write_text(KERNEL_CONFIG)
    return {"IPYTHONDIR": str(folder / "ipython")}
