"""Start a real three-node Redis Cluster from the ``redis-server`` binary.

Three primaries, no replicas, on free loopback ports, with their cluster
config files in a temporary folder that is removed on stop. Used by the
``redis_cluster_url`` session fixture (tests/conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.servers._process import ServerExited, free_port, missing_binaries, stop_all, wait_until

__all__ = ["BINARIES", "RedisCluster", "start_redis_cluster"]

BINARIES = ("redis-server", "redis-cli")


@dataclass
class RedisCluster:
    """A running cluster.

    Attributes:
        ports: The nodes' loopback ports.
        url: ``redis+cluster://127.0.0.1:<first port>``.
        stop: Terminates every node, waits for them and removes the temp folder.
    """

    ports: list[int]
    url: str
    stop: Callable[[], None]


def start_redis_cluster(nodes: int = 3, timeout: float = 30.0) -> RedisCluster:
    """Start ``nodes`` cluster-enabled ``redis-server`` processes and join them.

    Raises:
        FileNotFoundError: ``redis-server`` or ``redis-cli`` is not on PATH.
        RuntimeError: A node exited or ``redis-cli --cluster create`` failed.
        TimeoutError: The cluster did not reach ``cluster_state:ok`` in time.
    """
    import redis

    missing = missing_binaries(BINARIES)
    if missing:
        raise FileNotFoundError(f"not on PATH: {', '.join(missing)}")
    workdir = Path(tempfile.mkdtemp(prefix="agui-redis-cluster-"))
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []

    def stop() -> None:
        try:
            stop_all(procs)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    try:
        for i in range(nodes):
            port = free_port(with_bus=True)
            node_dir = workdir / f"node{i}"
            node_dir.mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(node_dir / "nodes.conf"),
                        "--dir",
                        str(node_dir),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                        "--loglevel",
                        "warning",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            ports.append(port)

        def node_ping(port: int) -> Callable[[], bool]:
            def check() -> bool:
                for proc in procs:
                    if proc.poll() is not None:
                        raise ServerExited(f"a cluster node exited with {proc.returncode}")
                client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
                try:
                    return bool(client.ping())
                finally:
                    client.close()

            return check

        for port in ports:
            wait_until(node_ping(port), timeout, f"redis-server on port {port}")
        created = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if created.returncode != 0:
            output = created.stdout + created.stderr
            raise RuntimeError(f"redis-cli --cluster create failed: {output}")

        def cluster_ok() -> bool:
            for port in ports:
                client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
                try:
                    info = client.execute_command("CLUSTER", "INFO")
                finally:
                    client.close()
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text:
                    return False
            return True

        wait_until(cluster_ok, timeout, "Redis Cluster (cluster_state:ok)")
    except BaseException:
        stop()
        raise
    return RedisCluster(ports, f"redis+cluster://127.0.0.1:{ports[0]}", stop)
