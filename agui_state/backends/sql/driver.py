"""Running pre-rendered SQL on the driver: the SQL backend's write hot path.

An update of a persistent store writes one version: move the head, insert
the row, in one transaction. Through ``Connection.execute`` of SQLAlchemy
Core constructs, each call rebuilt both statements, computed their cache
keys and went through SQLAlchemy's connection, transaction, execution
context, result and event machinery: several times the driver's own cost.
Here the statements are rendered once (``writes.WriteSQL``) and an
:class:`Executor` sends them with bound parameters:

* :meth:`Driver.transaction` checks a connection out of SQLAlchemy's pool
  (``raw_connection``: pool limits, checkout checks and recycling still
  apply), begins (``BEGIN IMMEDIATE`` on SQLite; psycopg begins implicitly),
  runs the statements on the DBAPI cursor, and commits through the
  dialect's ``do_commit``, rolling back on any failure. Driver errors become
  the :class:`sqlalchemy.exc.DBAPIError` subclasses ``Connection.execute``
  would raise (parameters hidden), so the backend's error mapping and
  retries see the same exceptions, and a disconnect invalidates the
  connection so the pool never hands it out again;
* :meth:`Driver.autocommit` does the same for a write that is one
  statement (PostgreSQL's hot path, ``hot``), in autocommit: no
  ``BEGIN``/``COMMIT``, one round trip;
* when anything observes the engine (a connection or dialect event listener:
  tracing, statement logging, fault-injection tests; or SQLAlchemy's INFO
  logging, ``echo``), :meth:`Driver.observed` says so and the backend runs
  the same statements through :class:`ConnectionExecutor`
  (``Connection.exec_driver_sql`` inside ``Connection.begin()``), so every
  event fires as usual.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import PoolProxiedConnection

from agui_state.backends.sql.engine import connection_verified

__all__ = ["ConnectionExecutor", "Driver", "Executor"]

T = TypeVar("T")
Params = Sequence[Any]

_CURSOR = "agui_state_cursor"
"""Key of the reusable cursor in the pool record's ``info`` (cleared on reconnect)."""


class Executor(Protocol):
    """Runs driver SQL (``?`` or ``%s`` placeholders) inside an open transaction."""

    def one(self, sql: str, params: Params) -> Sequence[Any] | None:
        """Execute ``sql`` and return its first row (None: no row)."""

    def run(self, sql: str, params: Params) -> int:
        """Execute ``sql``; return the number of rows it changed."""

    def run_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Execute ``sql`` once per parameter row (the driver's ``executemany``)."""


class ConnectionExecutor:
    """Driver SQL through ``Connection.exec_driver_sql``: SQLAlchemy's events and error handling."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def one(self, sql: str, params: Params) -> Sequence[Any] | None:
        return self.conn.exec_driver_sql(sql, tuple(params)).first()

    def run(self, sql: str, params: Params) -> int:
        return int(self.conn.exec_driver_sql(sql, tuple(params)).rowcount)

    def run_many(self, sql: str, rows: Sequence[Params]) -> None:
        self.conn.exec_driver_sql(sql, [tuple(row) for row in rows])


class Driver:
    """Direct write transactions on one engine's pool (see the module doc).

    Args:
        engine: The backend's engine.
        begin: The statement opening a write transaction (``BEGIN
            IMMEDIATE`` on SQLite), or None when the driver begins implicitly.
    """

    __slots__ = ("_dialect", "_engine", "_error", "_hide_parameters", "begin", "marker")

    def __init__(self, engine: Engine, begin: str | None) -> None:
        self._engine = engine
        self._dialect = engine.dialect
        self._error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._hide_parameters = engine.hide_parameters
        self.begin = begin
        self.marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        """The driver's positional placeholder: ``?`` (sqlite3) or ``%s`` (psycopg)."""

    def observed(self) -> bool:
        """Whether event listeners or SQLAlchemy's statement logging watch the engine.

        Listeners can be added at any time, so this is asked per write (cheap).
        """
        engine: Any = self._engine
        return bool(
            engine._has_events  # connection events (SQLAlchemy sets this on listen)
            or engine.dialect._has_events  # handle_error and other dialect events
            or engine.logger.isEnabledFor(logging.INFO)  # echo=True or the logger
        )

    def _checkout(self) -> PoolProxiedConnection:
        """Take a connection from the pool; driver errors wrapped as SQLAlchemy would."""
        try:
            return self._engine.raw_connection()
        except self._error as exc:
            raise self._wrap(None, None, None, None, exc) from exc

    def transaction(self, fn: Callable[[Executor], T], prelude: tuple[str, Params] | None) -> T:
        """Run ``fn`` in one transaction on a pooled connection; commit, or roll back and raise.

        Args:
            fn: The statements, given an :class:`Executor`.
            prelude: A statement run right after ``BEGIN`` (a local
                ``statement_timeout``), or None.

        Raises:
            sqlalchemy.exc.DBAPIError: A driver error, wrapped as SQLAlchemy would.
        """
        fairy = self._checkout()
        ex = _CursorExecutor(self, fairy)
        try:
            if self.begin is not None:
                ex.run(self.begin, ())
            if prelude is not None:
                ex.one(*prelude)
            result = fn(ex)
            try:
                self._dialect.do_commit(fairy)
            except self._error as exc:
                raise self._wrap(fairy, None, "COMMIT", None, exc) from exc
            return result
        except BaseException:
            if fairy.is_valid:
                try:
                    self._dialect.do_rollback(fairy)
                except Exception as exc:  # cannot even roll back: never reuse it
                    fairy.invalidate(exc)
            raise
        finally:
            fairy.close()

    def autocommit(self, fn: Callable[[Executor], T]) -> T:
        """Run ``fn`` on a pooled connection in autocommit: each statement commits by itself.

        For a write that is one statement (``hot``): one round trip, no
        ``BEGIN``/``COMMIT``. psycopg switches autocommit on the client only
        (no round trip); the connection goes back to the pool switched back.

        Raises:
            sqlalchemy.exc.DBAPIError: A driver error, wrapped as SQLAlchemy would.
        """
        fairy = self._checkout()
        dbapi_conn: Any = fairy.dbapi_connection
        try:
            try:
                dbapi_conn.autocommit = True
            except self._error as exc:  # closed while idle in the pool
                raise self._wrap(fairy, None, None, None, exc) from exc
            return fn(_CursorExecutor(self, fairy))
        finally:
            if fairy.is_valid:
                try:
                    dbapi_conn.autocommit = False
                except Exception as exc:  # a broken connection: never reuse it
                    fairy.invalidate(exc)
            fairy.close()

    def _wrap(
        self, fairy: Any, cursor: Any, sql: str | None, params: Any, exc: Exception
    ) -> BaseException:
        """Turn a driver error into SQLAlchemy's exception, invalidating a dead connection."""
        dbapi_conn = fairy.dbapi_connection if fairy is not None and fairy.is_valid else None
        disconnect = self._dialect.is_disconnect(exc, dbapi_conn, cursor)  # type: ignore[arg-type]
        if cursor is not None:
            with contextlib.suppress(Exception):  # a dead connection's cursor may not close
                cursor.close()
        if disconnect and dbapi_conn is not None:
            fairy.invalidate(exc)
        wrapped = sa_exc.DBAPIError.instance(
            sql,
            params,
            exc,
            self._error,
            hide_parameters=self._hide_parameters,
            connection_invalidated=disconnect,
            dialect=self._dialect,
        )
        assert isinstance(wrapped, BaseException)
        return wrapped


class _CursorExecutor:
    """Driver SQL on the DBAPI cursor of a connection checked out by :meth:`Driver.transaction`.

    The cursor is kept in the pool record's ``info`` and reused by later
    transactions on the same connection (creating one costs more than a
    statement's own client work); SQLAlchemy clears ``info`` when it
    replaces the connection, and a cursor that saw an error is dropped.
    """

    __slots__ = ("_cursor", "_driver", "_error", "_fairy")

    def __init__(self, driver: Driver, fairy: Any) -> None:
        self._driver = driver
        self._error = driver._error
        self._fairy = fairy
        self._cursor: Any = fairy.info.get(_CURSOR)

    def _execute(self, sql: str, params: Any, many: bool) -> Any:
        cursor = self._cursor
        if cursor is None:
            cursor = self._fairy.dbapi_connection.cursor()
            self._cursor = self._fairy.info[_CURSOR] = cursor
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except self._error as exc:
            raise self._failed(cursor, sql, params, exc) from exc
        connection_verified()  # alive: a later disconnect is not a stale pool entry
        return cursor

    def _failed(self, cursor: Any, sql: str, params: Any, exc: Exception) -> BaseException:
        self._cursor = None
        self._fairy.info.pop(_CURSOR, None)
        return self._driver._wrap(self._fairy, cursor, sql, params, exc)

    def one(self, sql: str, params: Params) -> Sequence[Any] | None:
        cursor = self._execute(sql, params, False)
        try:
            # All rows (at most one here): sqlite3 then finishes the statement,
            # which would otherwise stay active (RETURNING) until the next one.
            rows = cursor.fetchall()
        except self._error as exc:
            raise self._failed(cursor, sql, params, exc) from exc
        return rows[0] if rows else None

    def run(self, sql: str, params: Params) -> int:
        return int(self._execute(sql, params, False).rowcount)

    def run_many(self, sql: str, rows: Sequence[Params]) -> None:
        self._execute(sql, rows, True)
