"""Engine construction for the SQL backend: URLs, pools, timeouts, SQLite hooks.

PostgreSQL always goes through psycopg 3 (``postgresql+psycopg``): plain
``postgresql://`` and ``postgres://`` URLs are rewritten, so psycopg2 is never
picked by SQLAlchemy's default. Settings:

* a ``QueuePool`` of ``max_connections`` (no overflow: it is a maximum),
  ``pool_pre_ping`` so connections killed while idle are replaced silently,
  checkout waits at most ``connect_timeout``;
* ``connect_timeout`` passed to libpq (whole seconds, at least 1);
* the session ``statement_timeout`` is ``read_timeout`` (reads run in
  autocommit, one statement each, so they need no extra round trip); write
  transactions lower or raise it to ``write_timeout`` with
  ``set_config(..., is_local => true)`` when the two differ;
* ``application_name`` and ``sslmode`` from ``postgresql_options`` unless the
  URL sets them.

SQLite: WAL journal (readers never block the writer), ``busy_timeout`` =
``write_timeout``, foreign keys on. Python's sqlite3 module would open
transactions implicitly and only before DML; we switch that off
(``isolation_level = None``) and emit ``BEGIN`` ourselves from SQLAlchemy's
``begin`` event: ``BEGIN IMMEDIATE`` for writes (the write lock is taken up
front, so two writers queue on ``busy_timeout`` instead of deadlocking on a
lock upgrade), plain ``BEGIN`` for reads. ``sqlite://`` (in memory) uses a
``StaticPool``: one connection, so every thread sees the same database; the
backend serializes its use with a lock.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from agui_state.backends._sql_codec import engine_json_serializer
from agui_state.config import StorageConfig, redact_url
from agui_state.errors import ConfigError

__all__ = ["IMMEDIATE_OPTION", "is_memory_sqlite", "make_engine", "normalize_url"]

IMMEDIATE_OPTION = "agui_state_begin_immediate"
"""Execution option: on SQLite, begin the transaction with ``BEGIN IMMEDIATE``."""

_PG_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}


def normalize_url(raw: str | None) -> URL:
    """Parse the configured URL and pin the driver (psycopg 3 / pysqlite).

    Raises:
        ConfigError: Not a SQLite or PostgreSQL URL.
    """
    if not raw:
        raise ConfigError(
            "connection_url", "the SQL backend needs a sqlite:// or postgresql:// URL"
        )
    try:
        url = make_url(raw)
    except Exception as exc:  # SQLAlchemy raises ArgumentError / ValueError variants
        raise ConfigError("connection_url", f"unparseable SQL URL {redact_url(raw)!r}") from exc
    scheme = url.drivername.lower()
    if scheme in _PG_SCHEMES:
        return url.set(drivername="postgresql+psycopg")
    if scheme in _SQLITE_SCHEMES:
        return url.set(drivername="sqlite+pysqlite")
    raise ConfigError(
        "connection_url",
        f"scheme {url.drivername!r} is not supported by the SQL backend "
        "(use sqlite:// or postgresql[+psycopg]://)",
    )


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _pg_connect_args(url: URL, config: StorageConfig) -> tuple[URL, dict[str, Any]]:
    query = dict(url.query)
    args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(config.connect_timeout))}
    # Keep any options the user gave (e.g. search_path) and add ours.
    user_options = query.pop("options", "")
    if isinstance(user_options, tuple):
        user_options = " ".join(user_options)
    ms = max(1, round(config.read_timeout * 1000))
    args["options"] = f"{user_options} -c statement_timeout={ms}".strip()
    po = config.postgresql_options
    if "application_name" not in query:
        args["application_name"] = po.application_name
    if "sslmode" not in query:
        args["sslmode"] = po.ssl_mode
    return url.set(query=query), args


def _install_sqlite_hooks(engine: Engine, config: StorageConfig, memory: bool) -> None:
    busy_ms = max(1, round(config.write_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (see module doc).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
            cur.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cur.execute("PRAGMA journal_mode = WAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(config: StorageConfig) -> tuple[Engine, bool]:
    """Create the engine for ``config``.

    Returns:
        The engine and whether it is an in-memory SQLite database (whose
        single connection the caller must serialize).

    Raises:
        ConfigError: Bad URL, or the PostgreSQL driver is not installed.
    """
    url = normalize_url(config.connection_url)
    common: dict[str, Any] = {
        "json_serializer": engine_json_serializer,
        "hide_parameters": True,  # statement parameters are user data: keep them out of errors/logs
    }
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401  (presence check for a clear hint)
        except ImportError as exc:
            raise ConfigError(
                "type", "the postgresql backend needs psycopg 3; pip install 'agui-state[postgres]'"
            ) from exc
        url, connect_args = _pg_connect_args(url, config)
        engine = sa.create_engine(
            url,
            connect_args=connect_args,
            pool_size=config.max_connections,
            max_overflow=0,
            pool_pre_ping=True,
            pool_recycle=1800,
            pool_timeout=config.connect_timeout,
            **common,
        )
        return engine, False
    memory = is_memory_sqlite(url)
    if memory:
        engine = sa.create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            **common,
        )
    else:
        assert url.database is not None
        # SQLite creates the file but not its folder. If this fails, opening
        # the database fails too and reports it as unavailable.
        with contextlib.suppress(OSError):
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            pool_size=config.max_connections,
            max_overflow=0,
            pool_timeout=config.connect_timeout,
            # The pool hands a connection to one thread at a time.
            connect_args={"check_same_thread": False, "timeout": config.write_timeout},
            **common,
        )
    _install_sqlite_hooks(engine, config, memory)
    return engine, memory
