"""Faults against a real Redis: wrong passwords, unreachable and paused servers,
connections killed in the middle of a stream of writes.

These run against a private, throwaway ``redis-server`` started by the test
(``tests/servers/redis_server.py``): killing clients or requiring a password
on the shared server would disturb other test sessions.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agui_state.backends import create_backend
from agui_state.config import StorageConfig
from agui_state.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ConflictError,
    StorageError,
)
from agui_state.testing.hammer import assert_hammered, hammer
from agui_state.testing.helpers import make_version, numbers
from tests.conftest import IN_CI
from tests.servers._process import free_port, missing_binaries
from tests.servers.redis_server import RedisServer, start_redis_server

# Skip without redis-py locally; under CI=true a missing driver must fail, not skip.
redis = importlib.import_module("redis") if IN_CI else pytest.importorskip("redis")
from agui_state.backends.redis import RedisBackend  # noqa: E402

pytestmark = pytest.mark.redis

SECRET = "s3cr3t-pässword"


def _server(password: str | None = None) -> Iterator[RedisServer]:
    if missing_binaries(["redis-server"]):
        from tests.conftest import server_missing

        server_missing(
            "redis-server binary", "redis://127.0.0.1", FileNotFoundError("redis-server"), "PATH"
        )
    server = start_redis_server(password)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def private_redis() -> Iterator[RedisServer]:
    """A private Redis without password (clients may be killed freely)."""
    yield from _server()


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    """A private Redis that requires the password :data:`SECRET`."""
    yield from _server(SECRET)


def _admin(server: RedisServer, password: str | None = None) -> Any:
    return redis.Redis(host="127.0.0.1", port=server.port, password=password)


# ------------------------------------------------------------ credentials
def test_wrong_password_is_unavailable_and_never_shown(locked_redis: RedisServer) -> None:
    wrong = "wr0ng-Passw0rd"
    url = f"redis://:{wrong}@127.0.0.1:{locked_redis.port}/0?max_retries=2"
    with pytest.raises(BackendUnavailableError) as info:
        create_backend(url)
    message = str(info.value)
    assert wrong not in message and wrong not in repr(info.value)
    assert "***" in message and str(locked_redis.port) in message
    assert "authenticate" in message


def test_missing_password_is_unavailable(locked_redis: RedisServer) -> None:
    with pytest.raises(BackendUnavailableError, match="authenticate"):
        create_backend(f"redis://127.0.0.1:{locked_redis.port}/0")


def test_right_password_works_and_is_never_shown(locked_redis: RedisServer) -> None:
    from urllib.parse import quote

    url = f"redis://:{quote(SECRET)}@127.0.0.1:{locked_redis.port}/0?key_prefix=pw:"
    backend = create_backend(url)
    try:
        backend.save_version("s", make_version("s", 1, [{"op": "add", "path": "/a", "value": 1}]))
        assert backend.get_state("s") == {"a": 1}
        shown = [repr(backend), repr(backend.config), json.dumps(backend.stats())]
        for text in shown:
            assert SECRET not in text and quote(SECRET) not in text
    finally:
        backend.close()


# ------------------------------------------------------ unreachable, slow
def test_unreachable_port_is_unavailable() -> None:
    port = free_port()  # nothing listens there
    config = StorageConfig.from_url(
        f"redis://:pw@127.0.0.1:{port}/0", connect_timeout=1.0, max_retries=1
    )
    with pytest.raises(BackendUnavailableError, match=r"after 2 attempt\(s\)") as info:
        RedisBackend(config)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert ":pw@" not in str(info.value)


def test_paused_server_times_out(private_redis: RedisServer) -> None:
    url = f"{private_redis.url}?key_prefix=slow:"
    config = StorageConfig.from_url(url, read_timeout=0.15, write_timeout=0.15, max_retries=1)
    backend = RedisBackend(config)
    admin = _admin(private_redis)
    try:
        # The pause outlasts both attempts (2 x 0.15 s + backoff); UNPAUSE
        # itself waits for it to end, so keep it short.
        admin.execute_command("CLIENT", "PAUSE", 800, "ALL")
        with pytest.raises(BackendTimeoutError, match="timed out during read"):
            backend.exists("s")
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
    backend.ping()  # recovers once the server answers again
    backend.close()


def _client_count(admin: Any) -> int:
    return len(admin.client_list(_type="normal")) - 1  # minus the admin itself


def test_min_idle_conns_open_eagerly_and_close_disconnects(private_redis: RedisServer) -> None:
    admin = _admin(private_redis)
    try:
        before = _client_count(admin)
        backend = create_backend(f"{private_redis.url}?key_prefix=pool:&min_idle_conns=3")
        assert _client_count(admin) == before + 3
        assert backend.stats()["pool"]["created"] == 3
        backend.close()
        deadline = time.monotonic() + 5
        while _client_count(admin) > before and time.monotonic() < deadline:
            time.sleep(0.01)  # the server notices closed sockets asynchronously
        assert _client_count(admin) == before
    finally:
        admin.close()


# -------------------------------------------- connections killed mid-stream
class _Killer(threading.Thread):
    """Kills every normal client connection (but its own) until stopped."""

    def __init__(self, server: RedisServer) -> None:
        super().__init__(daemon=True)
        self.admin = _admin(server)
        self.stop_event = threading.Event()
        self.killed = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.killed += int(self.admin.client_kill_filter(_type="normal"))
            time.sleep(0.003)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        self.admin.close()


def _check_history(backend: Any, sid: str, acked: dict[int, str]) -> None:
    """Every acknowledged version is stored at its number; no gap, no duplicate."""
    versions = backend.get_versions(sid)
    head = backend.head_version(sid)
    assert numbers(versions) == list(range(1, head + 1))
    by_number = {v.number: v.id for v in versions}
    for number, version_id in acked.items():
        assert by_number[number] == version_id, f"acknowledged version {number} lost"
    assert len(set(by_number.values())) == head
    log = backend.get_state(sid)["log"]
    assert len(log) == len(set(log)) == head  # no delta applied twice


def test_killed_connections_lose_and_duplicate_nothing(private_redis: RedisServer) -> None:
    backend = create_backend(f"{private_redis.url}?key_prefix=kill:&max_retries=6")
    sid = "stream"
    backend.set_state(sid, {"log": []})
    acked: dict[int, str] = {}
    failed = 0
    killer = _Killer(private_redis)
    killer.start()
    try:
        attempts = 0
        while len(acked) < 150 and attempts < 2000:
            attempts += 1
            try:
                head = backend.head_version(sid)
                version = make_version(
                    sid, head + 1, [{"op": "add", "path": "/log/-", "value": f"w{attempts}"}]
                )
                backend.save_version(sid, version)
            except ConflictError:
                continue  # an earlier write reported as failed had landed after all
            except StorageError:
                failed += 1  # retries exhausted: outcome unknown, re-read and go on
                continue
            acked[version.number] = version.id
    finally:
        killer.stop()
    assert killer.killed > 0, "no connection was killed: the test did not test anything"
    assert len(acked) == 150
    _check_history(backend, sid, acked)
    # Not wedged: the pool recovered.
    backend.ping()
    head = backend.head_version(sid)
    last = make_version(sid, head + 1, [{"op": "add", "path": "/log/-", "value": "end"}])
    backend.save_version(sid, last)
    assert backend.get_state(sid)["log"][-1] == "end"
    backend.close()


@pytest.mark.slow
def test_two_processes_hammer_one_state_through_killed_connections(
    private_redis: RedisServer,
) -> None:
    url = f"{private_redis.url}?key_prefix=hammer:&max_retries=6"
    backend = create_backend(url)
    sid = "hammered {state}"
    tags = ["p0", "p1"]
    backend.set_state(sid, {"log": []})
    killer = _Killer(private_redis)
    try:
        acked = hammer(
            {"url": url},
            sid,
            60,
            tags,
            retry_storage_errors=True,
            max_attempts=50 * 60,
            on_ready=killer.start,
        )
    finally:
        killer.stop()
    assert killer.killed > 0
    assert_hammered(backend, sid, acked, tags, unknown_outcomes=True)
    backend.close()


# ------------------------------------------------------------ server restart
def test_server_restart_mid_stream_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """A Redis restart in the middle of a write stream: every acknowledged
    write survives, the history stays gap-free, and the store is not wedged."""
    from agui_state.persistent import PersistentStateStore

    if missing_binaries(["redis-server"]):
        from tests.conftest import server_missing

        server_missing(
            "redis-server binary", "redis://127.0.0.1", FileNotFoundError("redis-server"), "PATH"
        )
    data_dir = str(tmp_path)
    server = start_redis_server(data_dir=data_dir)
    url = f"{server.url}?key_prefix=restart:&max_retries=2&connect_timeout=1"
    store = PersistentStateStore(url, state_id="stream")
    acked: list[tuple[int, int]] = []
    failures: list[Exception] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                version = store.apply_patch([{"op": "add", "path": f"/k{i}", "value": i}])
            except ConflictError:
                store.refresh()  # a write that landed but whose reply was lost
            except StorageError as exc:
                failures.append(exc)
                time.sleep(0.02)
            else:
                acked.append((version.number, i))

    thread = threading.Thread(target=writer)
    thread.start()
    restarted: RedisServer | None = None
    try:
        _wait_for(lambda: len(acked) >= 30, "writes before the restart")
        server.stop()
        before_restart = len(acked)
        time.sleep(0.3)
        restarted = start_redis_server(port=server.port, data_dir=data_dir)
        _wait_for(lambda: len(acked) >= before_restart + 30, "writes after the restart")
    finally:
        stop.set()
        thread.join(timeout=30)
        store.close()
    try:
        assert not thread.is_alive()
        assert failures, "the restart should have been visible as BackendUnavailableError"
        assert all(isinstance(exc, BackendUnavailableError) for exc in failures)
        with create_backend(url) as backend:
            state = backend.get_state("stream")
            stored = [v.number for v in backend.get_versions("stream")]
        assert stored == list(range(1, len(stored) + 1))
        for number, i in acked:
            assert state[f"k{i}"] == i, f"acknowledged version {number} lost"
    finally:
        if restarted is not None:
            restarted.stop()


def _wait_for(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
