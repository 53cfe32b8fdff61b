"""Driver error classification, mapping to agui-state errors, and retry delays.

SQLAlchemy wraps DBAPI errors (psycopg 3, sqlite3) in
:class:`sqlalchemy.exc.DBAPIError` with the driver's exception in ``.orig``.
:func:`classify` decides what a failure means for the caller:

* ``TRANSIENT``: the connection dropped (server restart, admin shutdown,
  ``pg_terminate_backend``, network), it could not be opened, or PostgreSQL
  rolled the transaction back for a deadlock / serialization failure. The
  transaction did not take effect *unless* the failure hit COMMIT itself,
  so the caller may retry; write retries re-check their outcome (see
  ``SQLBackend.write_batch``).
* ``TIMEOUT``: a statement or lock wait exceeded its limit (PostgreSQL
  ``statement_timeout`` / ``QueryCanceled``, SQLite busy timeout, pool
  checkout timeout). Not retried: the caller's time budget is spent.
* ``UNAVAILABLE``: retrying cannot help (database does not exist, login
  refused, SQLite file cannot be opened).
* ``MISSING_TABLES``: the tables are not there (``auto_setup`` off and
  ``setup()`` never ran).
* ``INTEGRITY`` / ``OTHER``: constraint violations and everything else.

:func:`to_state_error` turns a classified failure into the matching
:class:`~agui_state.errors.StorageError` subclass. Messages name the
operation and show the URL redacted and only the first line of the driver
message (never the SQL parameters, which may hold user data), with the
password scrubbed in case a driver echoes it.
"""

from __future__ import annotations

import enum
import random

from sqlalchemy import exc as sa_exc

from agui_state.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    StorageError,
)

__all__ = ["Fault", "backoff_delay", "classify", "driver_message", "to_state_error"]


class Fault(enum.Enum):
    """What a driver failure means for the caller."""

    TRANSIENT = "transient"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    MISSING_TABLES = "missing_tables"
    INTEGRITY = "integrity"
    OTHER = "other"


# SQLSTATEs (PostgreSQL appendix A).
_TIMEOUT_STATES = {"57014", "55P03"}  # query_canceled (statement_timeout), lock_not_available
_RETRY_STATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "57P01",  # admin_shutdown (pg_terminate_backend, fast shutdown)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up / shutting down)
}
_FATAL_STATES = {
    "3D000",
    "28000",
    "28P01",
    "3F000",
    "42501",
}  # no db, login refused, no schema, no privilege
_FATAL_TEXT = (
    "does not exist",
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    'role "',
    "unable to open database file",
    "invalid dsn",
    "invalid connection option",
)
_TIMEOUT_TEXT = (
    "database is locked",
    "database table is locked",
    "statement timeout",
    "canceling statement",
)
_MISSING_TEXT = ("no such table",)


def _sqlstate(orig: BaseException | None) -> str | None:
    state = getattr(orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def classify(exc: BaseException) -> Fault:
    """Return what ``exc`` (a SQLAlchemy or driver exception) means."""
    if isinstance(exc, sa_exc.TimeoutError):  # pool checkout timed out
        return Fault.TIMEOUT
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    state = _sqlstate(orig)
    text = str(orig).lower()
    if state in _TIMEOUT_STATES or any(t in text for t in _TIMEOUT_TEXT):
        return Fault.TIMEOUT
    if state == "42P01" or any(t in text for t in _MISSING_TEXT):
        return Fault.MISSING_TABLES
    if state in _FATAL_STATES:
        return Fault.UNAVAILABLE
    if isinstance(exc, sa_exc.IntegrityError) or (state or "").startswith("23"):
        return Fault.INTEGRITY
    if state in _RETRY_STATES or (state or "").startswith("08"):
        return Fault.TRANSIENT
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return Fault.TRANSIENT
    is_connection_error = isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)) or (
        type(orig).__name__ in {"OperationalError", "InterfaceError"}
    )
    if is_connection_error:
        if any(t in text for t in _FATAL_TEXT):
            return Fault.UNAVAILABLE
        return Fault.TRANSIENT
    return Fault.OTHER


def driver_message(exc: BaseException, secret: str | None) -> str:
    """Return the first line of the driver's message, password scrubbed."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if secret:
        text = text.replace(secret, "***")
    return f"{type(orig).__name__}: {text}"


def to_state_error(
    exc: BaseException,
    fault: Fault,
    *,
    op: str,
    backend: str,
    url: str,
    secret: str | None,
    timeout: float,
) -> StorageError:
    """Build the agui-state error for a classified driver failure.

    Args:
        exc: The SQLAlchemy / driver exception.
        fault: Its classification.
        op: The operation, e.g. ``"write_batch(state 'a')"``.
        backend: ``"postgresql"`` or ``"sqlite"``.
        url: The connection URL, already redacted.
        secret: The password, scrubbed from driver messages.
        timeout: The timeout in force, for timeout messages.
    """
    detail = driver_message(exc, secret)
    if fault is Fault.TIMEOUT:
        return BackendTimeoutError(
            f"{op} timed out after {timeout:g} s on {url}: {detail}", backend=backend
        )
    if fault in (Fault.TRANSIENT, Fault.UNAVAILABLE):
        return BackendUnavailableError(
            f"{op}: cannot reach database {url}: {detail}", backend=backend
        )
    if fault is Fault.MISSING_TABLES:
        return StorageError(
            f"{op}: tables missing on {url} (call setup() or enable auto_setup): {detail}",
            backend=backend,
        )
    return StorageError(f"{op} failed on {url}: {detail}", backend=backend)


def backoff_delay(attempt: int, base: float = 0.05, cap: float = 2.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): exponential, jittered."""
    delay: float = min(cap, base * (2 ** (attempt - 1)))
    # Full jitter in the upper half spreads out processes that failed together.
    return delay * (0.5 + random.random() / 2)
