"""Connections of the Redis backend: client construction, retries, error mapping.

redis-py's own retries are switched off (``Retry(NoBackoff(), 0)`` on every
connection, and on the cluster client): a blind re-send of a write script
whose reply was lost would run it twice. :class:`Connector` retries instead,
and lets the caller check whether a write already landed before re-sending it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterDownError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from agui_state.config import RedisOptions, StorageConfig
from agui_state.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ConfigError,
    CorruptDataError,
    StorageError,
)

__all__ = ["Connector", "pool_figures", "server_figures"]

T = TypeVar("T")

_log = logging.getLogger("agui_state.backends.redis")

BACKEND = "redis"
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 2.0
_SAMPLE_KEYS = 64
_SAMPLE_SCANS = 4

# Errors after which the same call may succeed: the server or network blinked.
_TRANSIENT: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)
# Errors no retry fixes (both derive from ConnectionError, so test them first).
_FATAL_AUTH: tuple[type[BaseException], ...] = (AuthenticationError, AuthorizationError)


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


class Connector:
    """Owns the redis-py client and runs commands with retries and error mapping.

    Args:
        config: The backend configuration.

    Raises:
        ConfigError: The URL cannot be turned into a client.
        BackendUnavailableError: The server cannot be reached (after retries).
    """

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        ro = config.redis_options
        self.cluster = ro.cluster
        # Two fields can carry it: a URL's ``?max_retries=`` lands in
        # StorageConfig.max_retries, code may set RedisOptions.max_retries.
        # The Redis-specific one wins when it was changed from its default.
        default = RedisOptions().max_retries
        self.retries = ro.max_retries if ro.max_retries != default else config.max_retries
        self._password = ro.password
        self.url = config.redacted_url or "redis://localhost:6379"
        self.client: Any = None
        self.client = self.call("connect", self._build)
        if ro.min_idle_conns:
            self.call("connect", lambda: self._warm(ro.min_idle_conns))

    # --------------------------------------------------------------- building
    def _build(self) -> Any:
        cfg = self.config
        ro = cfg.redis_options
        parts = urlsplit(cfg.connection_url or "redis://localhost:6379")
        try:
            port = parts.port or 6379
        except ValueError as exc:
            raise ConfigError("connection_url", f"invalid port in {self.url!r}") from exc
        host = parts.hostname or "localhost"
        username = unquote(parts.username) if parts.username else None
        common: dict[str, Any] = {
            "username": username,
            "password": ro.password,
            "socket_connect_timeout": cfg.connect_timeout,
            # One socket serves reads and writes: the longer bound applies.
            "socket_timeout": max(cfg.read_timeout, cfg.write_timeout),
            "decode_responses": False,
        }
        client: Any
        if self.cluster:
            if ro.ssl:
                common["ssl"] = True
            client = redis.RedisCluster(
                host=host,
                port=port,
                retry=_no_retry(),
                max_connections=ro.pool_size,
                connection_pool_class=redis.BlockingConnectionPool,
                **common,
            )
        else:
            pool_class: Any = redis.BlockingConnectionPool  # untyped in redis-py
            pool = pool_class(
                host=host,
                port=port,
                db=ro.db,
                max_connections=ro.pool_size,
                timeout=cfg.connect_timeout,
                retry=_no_retry(),
                connection_class=redis.SSLConnection if ro.ssl else redis.Connection,
                **common,
            )
            client = redis.Redis(connection_pool=pool)
        try:
            client.ping()
        except BaseException:
            self._close_client(client)
            raise
        return client

    def _close_client(self, client: Any) -> None:
        client.close()
        if not self.cluster:
            # A client given its pool does not close it: disconnect it here.
            client.connection_pool.disconnect()

    def _warm(self, count: int) -> None:
        """Open ``count`` connections per pool now (``min_idle_conns``)."""
        for pool in self.pools():
            conns = [pool.get_connection() for _ in range(count)]
            for conn in conns:
                pool.release(conn)

    def pools(self) -> list[Any]:
        """Return the connection pools (one, or one per cluster node)."""
        if self.client is None:
            return []
        if not self.cluster:
            return [self.client.connection_pool]
        return [
            node.redis_connection.connection_pool
            for node in self.client.get_nodes()
            if node.redis_connection is not None
        ]

    def node_clients(self) -> list[Any]:
        """Return a plain client per primary (the one client on a single node)."""
        if not self.cluster:
            return [self.client]
        return [self.client.get_redis_connection(node) for node in self.client.get_primaries()]

    def close(self) -> None:
        """Disconnect every pooled connection."""
        if self.client is not None:
            self._close_client(self.client)

    # ---------------------------------------------------------------- calling
    def call(self, op: str, fn: Callable[[], T]) -> T:
        """Run an idempotent ``fn`` with retries; map driver errors.

        Args:
            op: What is being done, for messages (``"get_state 'abc'"``).
            fn: The driver call(s); safe to repeat.
        """
        return self.write(op, fn, None)

    def write(self, op: str, fn: Callable[[], T], landed: Callable[[], T | None] | None) -> T:
        """Run ``fn`` with retries; before re-sending, ask ``landed`` whether it took effect.

        When a call fails on the connection its outcome is unknown: the
        server may have run it and the reply been lost. A write that is not
        idempotent passes ``landed``: it returns the result to report when the
        write is already stored (no re-send), or None to send it again.
        """
        unknown = False
        for attempt in range(self.retries + 1):
            try:
                if unknown and landed is not None:
                    result = landed()
                    if result is not None:
                        _log.info("redis: %s had landed before the connection failed", op)
                        return result
                return fn()
            except _FATAL_AUTH as exc:
                raise BackendUnavailableError(
                    f"Redis at {self.url} refused the credentials (cannot authenticate) "
                    f"during {op}: {self._scrub(exc)}",
                    backend=BACKEND,
                ) from exc
            except _TRANSIENT as exc:
                unknown = True
                if attempt >= self.retries:
                    raise self._unavailable(op, exc, attempt + 1) from exc
                delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt) * (0.5 + random.random() / 2)
                _log.warning(
                    "redis: %s failed (%s: %s), retry %d/%d in %.2fs",
                    op,
                    type(exc).__name__,
                    self._scrub(exc),
                    attempt + 1,
                    self.retries,
                    delay,
                )
                time.sleep(delay)
            except ResponseError as exc:
                if str(exc).startswith("WRONGTYPE"):
                    raise CorruptDataError(
                        op, f"a key has the wrong type: {exc}", backend=BACKEND
                    ) from exc
                raise StorageError(
                    f"Redis refused {op}: {self._scrub(exc)}", backend=BACKEND
                ) from exc
            except RedisClusterException as exc:
                raise self._unavailable(op, exc, attempt + 1) from exc
            except RedisError as exc:
                raise StorageError(
                    f"Redis failed during {op}: {self._scrub(exc)}", backend=BACKEND
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _unavailable(self, op: str, exc: BaseException, attempts: int) -> StorageError:
        detail = f"{type(exc).__name__}: {self._scrub(exc)}"
        if isinstance(exc, RedisTimeoutError):
            return BackendTimeoutError(
                f"Redis at {self.url} timed out during {op} after {attempts} attempt(s) ({detail})",
                backend=BACKEND,
            )
        return BackendUnavailableError(
            f"cannot reach Redis at {self.url} during {op} after {attempts} attempt(s) ({detail})",
            backend=BACKEND,
        )

    def _scrub(self, exc: BaseException) -> str:
        """The error text with the password removed, should a driver ever echo it."""
        text = str(exc)
        if self._password:
            text = text.replace(self._password, "***")
        return text


def pool_figures(pools: list[Any]) -> dict[str, int]:
    """Sum created / in-use / available connections over redis-py pools.

    Reads pool internals (redis-py has no public counters); unknown pool
    classes count as zero rather than failing ``stats()``.
    """
    created = available = 0
    for pool in pools:
        conns = getattr(pool, "_connections", None)
        queue = getattr(pool, "pool", None)
        if conns is not None and queue is not None:  # BlockingConnectionPool
            created += len(conns)
            available += sum(1 for c in list(queue.queue) if c is not None)
        else:
            created += int(getattr(pool, "_created_connections", 0))
            available += len(getattr(pool, "_available_connections", ()))
    return {"created": created, "in_use": created - available, "available": available}


def server_figures(nodes: list[Any], client: Any, pattern: bytes) -> dict[str, Any]:
    """INFO figures summed over ``nodes``, and a cheap memory sample of ``pattern``.

    The sample is ``MEMORY USAGE`` summed over at most 64 matching keys,
    found by at most 4 SCAN calls per node; ``complete`` is true when the
    scans covered the whole keyspace and every matching key was measured.
    """
    infos = [node.info() for node in nodes]
    keys: list[bytes] = []
    complete = True
    for node in nodes:
        cursor, calls, done = 0, 0, False
        while len(keys) < _SAMPLE_KEYS and calls < _SAMPLE_SCANS:
            cursor, found = node.scan(cursor=cursor, match=pattern, count=1000)
            keys.extend(found)
            calls += 1
            if not cursor:
                done = True
                break
        complete = complete and done
    complete = complete and len(keys) <= _SAMPLE_KEYS
    keys = keys[:_SAMPLE_KEYS]
    return {
        "nodes": len(nodes),
        "server_version": ", ".join(sorted({str(i.get("redis_version")) for i in infos})),
        "used_memory": sum(int(i.get("used_memory", 0)) for i in infos),
        "connected_clients": sum(int(i.get("connected_clients", 0)) for i in infos),
        "prefix_memory_sample": {
            "keys": len(keys),
            "bytes": sum(int(client.memory_usage(key) or 0) for key in keys),
            "complete": complete,
        },
    }
