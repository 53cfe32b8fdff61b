"""Real network faults between a store and PostgreSQL / Redis.

A :class:`~tests.servers.tcp_proxy.TCPProxy` started by the test on a
loopback port sits between the backend and the real server; a chaos thread
kills it (resetting every connection, mid-request or mid-reply) and restarts
it, again and again, while a :class:`PersistentStateStore` writes. A direct
connection to the server then checks what is really stored:

* synchronous: a write reported as failed is not stored (an unknown outcome
  is reported as :class:`~agui_state.errors.WriteOutcomeUnknownError`, never
  as a failure); every acknowledged write is stored with its id; memory and
  storage never diverge (no conflict with itself, no refresh needed).
* asynchronous: no write is lost: after a flush, storage holds every version
  memory has, with the same ids.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from agui_state.backends import StorageBackend, create_backend
from agui_state.errors import ConflictError, StorageError, WriteOutcomeUnknownError
from agui_state.persistent import PersistentStateStore
from tests.servers.tcp_proxy import TCPProxy

WRITES = 120
_TIMEOUTS = {"connect_timeout": "2", "read_timeout": "3", "write_timeout": "3", "max_retries": "2"}


@dataclass
class Route:
    """Two URLs to the same storage: through the proxy, and direct."""

    proxy: TCPProxy
    via_proxy: str
    direct: str


def _swap_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    assert parts.hostname is not None
    netloc = parts.netloc.rsplit("@", 1)
    host = f"{parts.hostname}:{port}"
    new = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
    return parts._replace(netloc=new).geturl()


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def route(request: pytest.FixtureRequest) -> Iterator[Route]:
    if request.param == "postgresql":
        base: str = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        params = {"schema": schema, "table_prefix": f"px{uuid.uuid4().hex[:8]}_"}
    else:
        base = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        params = {"key_prefix": f"{prefix}px{uuid.uuid4().hex[:8]}:"}
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    proxy = TCPProxy(parts.hostname, parts.port)
    proxy.start()
    query = urlencode({**params, **_TIMEOUTS})
    direct = f"{base}{'&' if '?' in base else '?'}{query}"
    try:
        yield Route(proxy, _swap_port(direct, proxy.port), direct)
    finally:
        proxy.close()


class Chaos:
    """Kills and restarts the proxy at random moments until stopped."""

    def __init__(self, proxy: TCPProxy, seed: int) -> None:
        self._proxy = proxy
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._random.uniform(0.01, 0.08)):
            if self._random.random() < 0.6:
                # The next reply is lost after its request was executed.
                self._proxy.cut_next_reply()
                continue
            self._proxy.kill()
            time.sleep(self._random.uniform(0.0, 0.05))
            self._proxy.start()

    def enough(self) -> bool:
        """Whether both kinds of fault happened often enough."""
        return self._proxy.kills >= 10 and self._proxy.cut_replies >= 10


def _open(url: str) -> StorageBackend:
    return create_backend(url)


def _settle(store: PersistentStateStore) -> None:
    """One more write through the (now stable) proxy; it settles any unknown outcome."""
    for _ in range(20):
        try:
            store.set("/done", True)
            return
        except StorageError:
            time.sleep(0.1)
    store.set("/done", True)


def test_sync_store_through_a_killed_proxy(route: Route) -> None:
    sid = "proxied-sync"
    via, direct = _open(route.via_proxy), _open(route.direct)
    try:
        store = PersistentStateStore(via, sid)
        acked: dict[int, tuple[str, int]] = {}
        failed: list[int] = []
        unknown: list[int] = []
        with Chaos(route.proxy, seed=7) as chaos:
            # Write until the faults have had their chance (fast servers
            # would otherwise finish between two faults).
            deadline = time.monotonic() + 30
            i = -1
            while i < WRITES or (not chaos.enough() and time.monotonic() < deadline):
                i += 1
                try:
                    version = store.set("/n", i, metadata={"i": i})
                except WriteOutcomeUnknownError:
                    unknown.append(i)
                except ConflictError as exc:  # the store diverged from storage
                    raise AssertionError(f"write {i}: {exc}") from exc
                except StorageError:
                    failed.append(i)
                else:
                    acked[version.number] = (version.id, i)
        _settle(store)
        assert route.proxy.kills and route.proxy.cut_replies and acked, "no faults or no writes"
        stored = direct.get_versions(sid)
        stored_calls = {v.metadata.get("i") for v in stored}
        # Never a stored write reported as failed.
        assert not stored_calls & set(failed), (sorted(stored_calls & set(failed)), failed)
        # Every acknowledged write is stored, with its id.
        by_number = {v.number: v for v in stored}
        for number, (version_id, i) in acked.items():
            assert by_number[number].id == version_id, i
            assert by_number[number].metadata == {"i": i}
        # Memory and storage agree, version by version.
        assert store.version == direct.head_version(sid) == stored[-1].number
        assert store.get_state() == direct.get_state(sid)
        for number in range(1, store.version + 1):
            assert store.get_version(number).id == by_number[number].id
        store.close()
    finally:
        via.close()
        direct.close()


def test_async_store_through_a_killed_proxy_loses_nothing(route: Route) -> None:
    sid = "proxied-async"
    via, direct = _open(route.via_proxy), _open(route.direct)
    try:
        store = PersistentStateStore(via, sid, synchronous=False, retry_backoff=0.01)
        errors: list[Exception] = []
        store.set_error_handler(errors.append)
        with Chaos(route.proxy, seed=11) as chaos:
            deadline = time.monotonic() + 30
            i = -1
            while i + 1 < WRITES or (not chaos.enough() and time.monotonic() < deadline):
                i += 1
                store.set("/n", i, metadata={"i": i})
                time.sleep(0.002)  # let the writer run while the proxy dies
        writes = i + 1
        store.flush(timeout=120)
        assert route.proxy.kills and route.proxy.cut_replies
        assert not [e for e in errors if isinstance(e, ConflictError)], errors
        stored = {v.number: v for v in direct.get_versions(sid)}
        assert store.version == direct.head_version(sid) == writes
        for number in range(1, writes + 1):
            mine: Any = store.get_version(number)
            assert stored[number].id == mine.id and stored[number].metadata == {"i": number - 1}
        assert direct.get_state(sid) == store.get_state() == {"n": writes - 1}
        store.close()
    finally:
        via.close()
        direct.close()
