"""Engine construction for the SQL backend: URLs, pools, timeouts, SQLite hooks.

PostgreSQL always goes through psycopg 3 (``postgresql+psycopg``): plain
``postgresql://`` and ``postgres://`` URLs are rewritten, so psycopg2 is never
picked by SQLAlchemy's default. Settings:

* a ``QueuePool`` of ``max_connections`` (no overflow: it is a maximum),
  checkout waits at most ``connect_timeout``;
* connections killed while idle in the pool (server restart,
  ``pg_terminate_backend``, ``idle_session_timeout``) are replaced silently
  on checkout, without a round trip per checkout as ``pool_pre_ping`` would
  cost (one more per write): an idle connection never has anything to read,
  so when its socket is readable (the server's termination notice, or EOF)
  or the connection is marked broken, or it sat idle longer than
  ``PING_IDLE_AFTER`` seconds (a peer that vanished without a word answers
  only when spoken to), it is pinged, and replaced if the ping fails. The
  server may not have sent its notice yet when the socket is looked at (a
  ``pg_terminate_backend`` a moment earlier): the first statement then
  fails, and :func:`took_unverified_connection` tells the backend, which
  retries at once and quietly, as a failed ping would have (writes and reads
  are safe to retry whole: see ``SQLBackend.write_batch``). The write path
  calls :func:`connection_verified` once a statement has gone through, so a
  later failure is reported as usual;
* ``connect_timeout`` passed to libpq (whole seconds, at least 1);
* the session ``statement_timeout`` is ``read_timeout`` (reads run in
  autocommit, one statement each, so they need no extra round trip); write
  transactions lower or raise it to ``write_timeout`` with
  ``set_config(..., is_local => true)`` when the two differ;
* ``application_name`` and ``sslmode`` from ``postgresql_options`` unless the
  URL sets them.

SQLite: WAL journal (readers never block the writer; switching a new file
to WAL waits out another process doing the same), ``busy_timeout`` =
``write_timeout``, foreign keys on. Python's sqlite3 module would open
transactions implicitly and only before DML; we switch that off
(``isolation_level = None``): the backend begins every write transaction
with ``BEGIN IMMEDIATE`` itself (the write lock is taken up front, so two
writers queue on ``busy_timeout`` instead of deadlocking on a lock upgrade),
and reads, one statement each, run in autocommit (a statement is a
consistent snapshot by itself, as on PostgreSQL). ``sqlite://`` (in memory)
uses a ``StaticPool``: one connection, so every thread sees the same
database; the backend serializes its use with a lock.
"""

from __future__ import annotations

import contextlib
import math
import select
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import QueuePool, StaticPool

from agui_state.backends.sql.codec import engine_json_serializer
from agui_state.config import StorageConfig, redact_url
from agui_state.errors import ConfigError

__all__ = [
    "PING_IDLE_AFTER",
    "connection_verified",
    "is_memory_sqlite",
    "make_engine",
    "normalize_url",
    "pool_stats",
    "took_unverified_connection",
]

PING_IDLE_AFTER = 10.0
"""Seconds a pooled PostgreSQL connection may sit idle before checkout pings it."""

_IDLE_SINCE = "agui_state_idle_since"  # key in the pool record's info dict

_checkout = threading.local()  # .unverified: the thread's last checkout skipped the ping


def took_unverified_connection() -> bool:
    """Whether this thread's last checkout was an idle pooled connection trusted without a ping.

    Reading resets it. A disconnect on such a connection means it had died
    while idle (what a ping would have caught), not that an operation broke.
    """
    unverified: bool = getattr(_checkout, "unverified", False)
    _checkout.unverified = False
    return unverified


def connection_verified() -> None:
    """Note that the connection this thread checked out has answered a statement."""
    _checkout.unverified = False


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


def _socket_readable(dbapi_conn: Any) -> bool:
    """Whether the connection's socket has input (or EOF) waiting, without blocking.

    Unknown (no socket, or ``select`` cannot watch it) counts as readable,
    which only costs a ping.
    """
    try:
        fd = dbapi_conn.fileno()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])
    except Exception:  # a closed connection, an fd select() cannot watch...: ping it
        return True


def _install_pg_checks(engine: Engine) -> None:
    """Check pooled connections on checkout cheaply (see the module doc)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        _checkout.unverified = False
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None:  # fresh from connect(): nothing to check
            return
        if (
            not (dbapi_conn.closed or dbapi_conn.broken)
            and time.monotonic() - since < PING_IDLE_AFTER
            and not _socket_readable(dbapi_conn)
        ):
            _checkout.unverified = True
            return
        try:
            alive = not (dbapi_conn.closed or dbapi_conn.broken) and dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            raise sa_exc.DisconnectionError(f"pooled connection is gone: {exc}") from exc
        if not alive:
            # The pool discards this connection and checks out (or opens) another.
            raise sa_exc.DisconnectionError("pooled connection is gone")


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
                _enable_wal(cur, busy_ms / 1000)
        finally:
            cur.close()


def _enable_wal(cursor: Any, timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, waiting out other processes opening the file.

    Switching a database to WAL needs an exclusive lock, and SQLite reports
    "database is locked" at once, without its busy handler, while another
    process holds the file (two processes opening a new database together).
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


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
            pool_recycle=1800,
            pool_timeout=config.connect_timeout,
            **common,
        )
        _install_pg_checks(engine)
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


def pool_stats(engine: Engine) -> dict[str, Any]:
    """Return figures about ``engine``'s connection pool for ``stats()``.

    Args:
        engine: The backend's engine.

    Returns:
        The pool class name and, for a ``QueuePool``, its size and how many
        connections are checked in, checked out and in overflow.
    """
    pool = engine.pool
    figures: dict[str, Any] = {"class": type(pool).__name__}
    if isinstance(pool, QueuePool):
        figures.update(
            size=pool.size(),
            checked_in=pool.checkedin(),
            checked_out=pool.checkedout(),
            overflow=pool.overflow(),
        )
    return figures
