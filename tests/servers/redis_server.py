"""Start a private, throwaway ``redis-server`` (for fault tests that must not
disturb the shared server: killing clients, passwords)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from tests.servers._process import ServerExited, free_port, stop_all, wait_until

__all__ = ["RedisServer", "start_redis_server"]


@dataclass
class RedisServer:
    """A running private Redis.

    Attributes:
        port: Its loopback port.
        url: ``redis://127.0.0.1:port/0`` (with the password when one is set).
        stop: Terminates the server and waits for it; idempotent.
    """

    port: int
    url: str
    stop: Callable[[], None]


def start_redis_server(
    password: str | None = None,
    timeout: float = 15.0,
    *,
    port: int | None = None,
    data_dir: str | None = None,
) -> RedisServer:
    """Start ``redis-server`` on a loopback port.

    Args:
        password: Set ``requirepass`` to this.
        timeout: Seconds to wait for it to answer PING.
        port: The port (default: a free one); pass the old port to restart.
        data_dir: Keep an append-only file here, fsynced on every write, so
            a restarted server has every acknowledged write (default: no
            persistence at all).
    """
    import redis

    port = free_port() if port is None else port
    cmd = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]
    if data_dir is None:
        cmd += ["--appendonly", "no"]
    else:
        cmd += ["--appendonly", "yes", "--appendfsync", "always", "--dir", data_dir]
    if password is not None:
        cmd += ["--requirepass", password]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        stop_all([proc])

    def answers() -> bool:
        if proc.poll() is not None:
            raise ServerExited(f"redis-server exited with {proc.returncode}")
        client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    try:
        wait_until(answers, timeout, f"redis-server on port {port}")
    except BaseException:
        stop()
        raise
    auth = f":{password}@" if password is not None else ""
    return RedisServer(port, f"redis://{auth}127.0.0.1:{port}/0", stop)
