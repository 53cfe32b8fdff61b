"""Shared bits of the server helpers: free ports, binaries, stopping processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence

__all__ = ["ServerExited", "free_port", "missing_binaries", "stop_all", "wait_until"]


class ServerExited(RuntimeError):
    """A server process died while we waited for it: stop waiting."""


def missing_binaries(names: Sequence[str]) -> list[str]:
    """Return the names of ``names`` that are not on PATH."""
    return [name for name in names if shutil.which(name) is None]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """Return a loopback port that is free now (and port + 10000 when ``with_bus``).

    Redis Cluster also listens on port + 10000 (the cluster bus), so the
    port must stay below 55536 and both must be free.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not with_bus:
            return port
        if port + 10000 <= 65535 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free loopback port (with a free cluster-bus port) found")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it returns True; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except ServerExited:
            raise
        except Exception:  # the server is still starting: keep polling
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.05)


def stop_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Terminate every process and wait for it (kill if it does not stop)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
