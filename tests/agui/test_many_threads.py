"""Many threads, one process: shared backends per URL and one writer thread per backend.

Against the real PostgreSQL and Redis, a few hundred thread stores opened by
URL must hold no more server connections than one pool's size (counted on
the server: ``pg_stat_activity``, ``CLIENT LIST``), and asynchronous stores
on one backend must share one writer thread.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from agui_state.backends.memory import MemoryBackend
from agui_state.backends.shared import shared_backend_count
from agui_state.config import StorageConfig
from agui_state.errors import ConflictError
from agui_state.persistent import PersistentStateStore
from agui_state.persistent.shared_writer import shared_writer_count

STORES = 300
POOL = 4


def _eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _close_all(stores: list[PersistentStateStore]) -> None:
    for store in stores:
        store.close()


def _open_guarded(url: str, ids: list[str], **kwargs: Any) -> list[PersistentStateStore]:
    """Open one store per id, checking sharing first: were it broken, hundreds
    of pools would exhaust a server the other test sessions use too."""
    stores: list[PersistentStateStore] = []
    try:
        for sid in ids:
            stores.append(PersistentStateStore(url, sid, **kwargs))
            if len(stores) == 3:
                assert stores[0].backend is stores[1].backend is stores[2].backend
    except BaseException:
        _close_all(stores)
        raise
    return stores


@pytest.fixture
def pg_app(postgres_url: str, postgres_schema: str) -> Iterator[tuple[str, str]]:
    app = f"agui-many-{uuid.uuid4().hex[:10]}"
    prefix = f"m{uuid.uuid4().hex[:6]}_"
    sep = "&" if "?" in postgres_url else "?"
    url = (
        f"{postgres_url}{sep}schema={postgres_schema}&table_prefix={prefix}"
        f"&max_connections={POOL}&application_name={app}"
    )
    yield url, app


def _pg_connections(postgres_url: str, app: str) -> int:
    import psycopg

    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
@pytest.mark.parametrize("synchronous", [True, False])
def test_hundreds_of_postgres_thread_stores_share_one_pool(
    pg_app: tuple[str, str], postgres_url: str, synchronous: bool
) -> None:
    url, app = pg_app
    threads_before = threading.active_count()
    backends_before = shared_backend_count()
    ids = [f"thread-{i}" for i in range(STORES)]
    stores = _open_guarded(url, ids, synchronous=synchronous)
    try:
        assert len({id(s.backend) for s in stores}) == 1
        assert shared_backend_count() == backends_before + 1
        for i, store in enumerate(stores):
            store.set("/n", i)
            store.apply_patch([{"op": "add", "path": "/log", "value": [i]}])
        for store in stores:
            store.flush()
        if not synchronous:
            # One writer thread for all the asynchronous stores.
            assert threading.active_count() <= threads_before + 1
        connections = _pg_connections(postgres_url, app)
        assert 1 <= connections <= POOL
        backend = stores[0].backend
        for i, sid in enumerate(ids):
            versions = backend.get_versions(sid, after=0, limit=10)
            assert [v.number for v in versions] == [1, 2]
            assert backend.state_at(sid, 2) == {"n": i, "log": [i]}
    finally:
        # Closing all but one keeps the pool; the last one closes it.
        _close_all(stores[1:])
        assert shared_backend_count() == backends_before + 1
        assert stores[0].backend.get_versions(ids[0], after=0)  # still open
        stores[0].close()
    assert shared_backend_count() == backends_before
    # A closed connection's server process takes a moment to leave the view.
    assert _eventually(lambda: _pg_connections(postgres_url, app) == 0)
    assert threading.active_count() <= threads_before


def _redis_connections(redis_url: str) -> int:
    """Connections the server lists from this process's sockets."""
    import redis

    mine = {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == 6379
    }
    client = redis.Redis.from_url(redis_url)
    try:
        own = client.client_id()
        listed = [
            c
            for c in client.client_list()
            if int(c["addr"].rsplit(":", 1)[1]) in mine and int(c["id"]) != own
        ]
    finally:
        client.close()
    return len(listed)


@pytest.mark.redis
@pytest.mark.parametrize("synchronous", [True, False])
def test_hundreds_of_redis_thread_stores_share_one_pool(
    redis_url: str, redis_prefix: str, synchronous: bool
) -> None:
    key_prefix = f"{redis_prefix}many-{uuid.uuid4().hex[:8]}:"
    url = f"{redis_url}?key_prefix={key_prefix}&pool_size={POOL}"
    threads_before = threading.active_count()
    base_connections = _redis_connections(redis_url)
    stores = _open_guarded(url, [f"t{i}" for i in range(STORES)], synchronous=synchronous)
    try:
        for i, store in enumerate(stores):
            store.set("/n", i)
        for store in stores:
            store.flush()
        if not synchronous:
            assert threading.active_count() <= threads_before + 1
        assert _redis_connections(redis_url) - base_connections <= POOL
        assert stores[7].backend.state_at("t7", 1) == {"n": 7}
    finally:
        _close_all(stores)
    assert _eventually(lambda: _redis_connections(redis_url) <= base_connections)


class _GatedBackend(MemoryBackend):
    """Counts transactions; the first one waits for a gate (to let work pile up)."""

    def __init__(self) -> None:
        super().__init__(StorageConfig(type="memory"))
        self.gate = threading.Event()
        self.transactions = 0

    def begin_transaction(self) -> Any:
        self.transactions += 1
        if self.transactions == 1:
            assert self.gate.wait(30)
        return super().begin_transaction()


def test_async_stores_on_one_backend_group_commit_across_states() -> None:
    backend = _GatedBackend()
    writers_before = shared_writer_count()
    stores = [PersistentStateStore(backend, f"s{i}", synchronous=False) for i in range(50)]
    try:
        assert shared_writer_count() == writers_before + 1
        stores[0].set("/first", True)  # its write waits at the gate
        for i, store in enumerate(stores):
            for j in range(3):
                store.set("/v", [i, j])
        backend.gate.set()
        for store in stores:
            store.flush(timeout=30)
        # The 150 queued versions of 50 states went out in a few group commits.
        assert backend.transactions <= 4
        for i in range(50):
            numbers = [v.number for v in backend.get_versions(f"s{i}", after=0)]
            assert numbers == list(range(1, len(numbers) + 1))
            assert backend.state_at(f"s{i}", numbers[-1])["v"] == [i, 2]
        assert stores[3].stats()["writer_alive"] is True
    finally:
        _close_all(stores)
    assert shared_writer_count() == writers_before
    backend.close()


def test_a_failing_state_is_reported_to_its_store_only() -> None:
    backend = MemoryBackend(StorageConfig(type="memory"))
    errors: dict[str, list[Exception]] = {}
    stores = [PersistentStateStore(backend, f"s{i}", synchronous=False) for i in range(10)]
    for store in stores:
        store.set_error_handler(errors.setdefault(store.state_id, []).append)
    # Another writer takes version 1 of s4 first: s4's queued version conflicts.
    with PersistentStateStore(backend, "s4") as other:
        other.set("/theirs", 1)
    try:
        for store in stores:
            store.set("/mine", store.state_id)
        for store in stores:
            if store.state_id == "s4":
                with pytest.raises(ConflictError):
                    store.flush()
            else:
                store.flush(timeout=30)
        assert [sid for sid, errs in errors.items() if errs] == ["s4"]
        assert isinstance(errors["s4"][0], ConflictError)
        assert backend.state_at("s5", 1) == {"mine": "s5"}
        assert backend.state_at("s4", 1) == {"theirs": 1}
        assert [v.number for v in stores[4].pending_versions()] == [1]
        # The others keep writing while s4 backs off.
        stores[5].set("/again", True)
        stores[5].flush(timeout=30)
        assert backend.state_at("s5", 2) == {"mine": "s5", "again": True}
        # After a refresh the failed store writes again, without waiting out its backoff.
        stores[4].refresh(discard_pending=True)
        stores[4].set("/after", "refresh")
        stores[4].flush(timeout=30)
        assert backend.state_at("s4", 2) == {"theirs": 1, "after": "refresh"}
    finally:
        _close_all(stores)
    backend.close()


def test_a_store_can_still_have_its_own_backend(tmp_path: Any) -> None:
    url = f"file://{tmp_path}"
    a = PersistentStateStore(url, "a")
    b = PersistentStateStore(url, "b")
    own = MemoryBackend(StorageConfig(type="memory"))
    c = PersistentStateStore(own, "c")
    try:
        assert a.backend is b.backend and c.backend is own
        # A different configuration is a different backend.
        d = PersistentStateStore(f"{url}?checkpoint_interval=7", "d")
        assert d.backend is not a.backend
        d.close()
    finally:
        a.close()
        c.close()
    b.set("/still", "open")  # a's close did not close b's shared backend
    b.close()
    assert own.exists("c") is False  # left open and usable by its owner
    own.close()
