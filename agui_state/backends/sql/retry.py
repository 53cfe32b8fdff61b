"""Running the SQL backend's statements: transactions, autocommit, retries.

:class:`TransactionRunner` is a mixin of ``SQLBackend`` holding one job: run
a unit of work (one read statement, one write transaction, or one
autocommitted write statement) against the engine or the driver cursor,
retrying it whole on transient connection failures with backoff, and
mapping driver errors to :mod:`agui_state.errors` at the boundary.

Retried writes are safe. A failure before COMMIT means the transaction did
not happen. A failure *during* COMMIT leaves the outcome unknown, and so
does a failure of the single autocommitted statement that writes a version
run of an existing state on PostgreSQL (``hot``): the retry
then either applies the batch (it had not committed) or runs into the
conditional head update (it had); in the second case the backend looks for
the batch's first version id at its number and, when found, reports success.
So an acknowledged write is stored exactly once, and a write that raised was
either not stored or is reported as a conflict only when it truly lost.
Batches without versions need no check: re-applying a ``set_state`` or a
snapshot is idempotent. (One gap remains: a ``set_state`` with
``expected_version`` whose acknowledgement was lost, when another writer
moves the head before the retry, reports a ConflictError although it was
stored; nothing identifies such a write afterwards.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agui_state.backends.sql.driver import ConnectionExecutor, Driver, Executor
from agui_state.backends.sql.engine import connection_verified, took_unverified_connection
from agui_state.backends.sql.errors import Fault, backoff_delay, classify, to_state_error
from agui_state.config import StorageConfig
from agui_state.errors import CorruptDataError, StateError, StorageError

__all__ = ["TransactionRunner"]

# The backend's logger, not this module's: operators and tests filter retry
# messages by "agui_state.backends.sql", which predates this split.
log = logging.getLogger("agui_state.backends.sql")

T = TypeVar("T")


class TransactionRunner:
    """Mixin running reads and writes of ``SQLBackend`` with retries.

    The attributes below are set by ``SQLBackend.__init__`` (and
    ``StorageBackend.__init__``); the host class provides
    :meth:`_ensure_setup`.
    """

    backend_type: ClassVar[str]
    config: StorageConfig
    _closed: bool
    _engine: Engine
    _read_engine: Engine
    _driver: Driver
    _conn_lock: threading.RLock | None
    _write_timeout_sql: tuple[str, tuple[str]] | None
    _redacted: str
    _secret: str | None

    def _ensure_setup(self) -> None:
        """Create or migrate the tables on first use (provided by the host)."""
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("backend is closed", backend=self.backend_type)

    def _serialized(self, body: Callable[[], T]) -> T:
        if self._conn_lock is None:
            return body()
        with self._conn_lock:
            return body()

    def _retrying(self, op: str | Callable[[], str], body: Callable[[], T], timeout: float) -> T:
        """Run ``body``, retrying transient failures with backoff; map driver errors.

        ``op`` names the operation in logs and errors; a callable is only
        called when needed (formatting ids costs time on the hot path).
        """
        attempt = 0
        replaced = False
        while True:
            try:
                return self._serialized(body)
            except StateError:
                raise
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                fault = classify(exc)
                if not isinstance(op, str):
                    op = op()
                if not replaced and _died_while_idle(exc, fault):
                    # What a pre-ping on checkout would have caught: replace
                    # the connection and go again, at once and quietly, once.
                    replaced = True
                    log.debug("%s: pooled connection found dead (closed while idle)", op)
                    continue
                if fault is Fault.TRANSIENT and attempt < self.config.max_retries:
                    attempt += 1
                    delay = backoff_delay(attempt)
                    log.warning(
                        "%s on %s: transient failure (%s), retry %d/%d in %.2f s",
                        op,
                        self._redacted,
                        type(exc).__name__,
                        attempt,
                        self.config.max_retries,
                        delay,
                    )
                    time.sleep(delay)
                    continue
                raise to_state_error(
                    exc,
                    fault,
                    op=op,
                    backend=self.backend_type,
                    url=self._redacted,
                    secret=self._secret,
                    timeout=timeout,
                ) from exc

    def _read(self, op: str, fn: Callable[[Connection], T]) -> T:
        self._check_open()
        self._ensure_setup()

        def body() -> T:
            with self._read_engine.connect() as conn:
                try:
                    return fn(conn)
                except ValueError as exc:
                    # Undecodable JSON text (a SQLite file can be edited by anyone).
                    raise CorruptDataError(
                        op, f"stored JSON cannot be read: {exc}", backend=self.backend_type
                    ) from exc

        return self._retrying(op, body, self.config.read_timeout)

    def _write(
        self, op: str | Callable[[], str], fn: Callable[[Connection], T], *, setup: bool = True
    ) -> T:
        """Run ``fn`` in one write transaction (retried whole on transient failures)."""
        self._check_open()
        if setup:
            self._ensure_setup()
        return self._retrying(op, lambda: self._transaction(fn), self.config.write_timeout)

    def _transaction(self, fn: Callable[[Connection], T]) -> T:
        """One attempt of a write transaction through SQLAlchemy's connection."""
        with self._engine.connect() as conn, conn.begin():
            if self._driver.begin is not None:
                conn.exec_driver_sql(self._driver.begin)
            if self._write_timeout_sql is not None:
                ConnectionExecutor(conn).one(*self._write_timeout_sql)
            result = fn(conn)
            connection_verified()  # a failing COMMIT is not a stale pool entry
            return result

    def _write_direct(self, op: Callable[[], str], fn: Callable[[Executor], T]) -> T:
        """Like :meth:`_write`, on the driver directly unless someone observes the engine.

        ``fn`` gets an :class:`Executor` for driver SQL (see ``driver``).
        """
        self._check_open()
        self._ensure_setup()
        driver, timeout_sql = self._driver, self._write_timeout_sql

        def body() -> T:
            if driver.observed():
                return self._transaction(lambda conn: fn(ConnectionExecutor(conn)))
            return driver.transaction(fn, timeout_sql)

        return self._retrying(op, body, self.config.write_timeout)

    def _write_autocommit(self, op: Callable[[], str], fn: Callable[[Executor], T]) -> T:
        """Like :meth:`_write_direct` for a write that is one statement, in autocommit.

        Through the read engine (autocommit) when someone observes the engine.
        """
        self._check_open()
        self._ensure_setup()
        driver = self._driver

        def body() -> T:
            if driver.observed():
                with self._read_engine.connect() as conn:
                    return fn(ConnectionExecutor(conn))
            return driver.autocommit(fn)

        return self._retrying(op, body, self.config.write_timeout)


def _died_while_idle(exc: BaseException, fault: Fault) -> bool:
    """Whether ``exc`` is the disconnect of a pooled connection trusted without a ping."""
    return (
        fault is Fault.TRANSIENT
        and isinstance(exc, sa.exc.DBAPIError)
        and exc.connection_invalidated
        and took_unverified_connection()
    )
