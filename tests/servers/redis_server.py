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


def start_redis_server(password: str | None = None, timeout: float = 15.0) -> RedisServer:
    """Start ``redis-server`` on a free loopback port, without persistence.

    Args:
        password: Set ``requirepass`` to this.
        timeout: Seconds to wait for it to answer PING.
    """
    import redis

    port = free_port()
    cmd = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
    ]
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
