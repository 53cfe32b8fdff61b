"""File backend across processes: SIGKILL mid-stream, concurrent writers.

A writer process prints each version number once ``save_version`` (or a
transaction) has returned, i.e. once the write is acknowledged. The test
kills it with SIGKILL at a random point, reopens the folder and checks that
every acknowledged version is there, the history has no gap and nothing torn
is read back as data.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from agui_state.errors import CorruptDataError
from agui_state.testing.hammer import assert_hammered, hammer
from tests.backends.test_file import (
    REPO_ROOT,
    log_files,
    open_backend,
    state_after,
    version,
)

pytestmark = pytest.mark.slow

WRITER = r"""
import sys
from pathlib import Path
from tests.backends.test_file import open_backend, state_after, version

base, mode, fsync = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "fsync"
backend = open_backend(base, fsync=fsync, backup_count=2)
n = backend.head_version("a") if backend.exists("a") else 0
while True:
    n += 1
    cp = state_after(n) if n % 7 == 0 else None  # exercises checkpoint files and backups too
    if mode == "single":
        backend.save_version("a", version("a", n, checkpoint=cp))
    else:  # two states in one transaction: the undo-journal path
        with backend.begin_transaction() as tx:
            tx.save_version("a", version("a", n, checkpoint=cp))
            tx.save_version("b", version("b", n))
    print(n, flush=True)
"""


def _start(tmp_path: Path, script: str, *args: str) -> subprocess.Popen[str]:
    path = tmp_path / "writer.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, str(path), *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_after(proc: subprocess.Popen[str], acks: int) -> int:
    """Kill ``proc`` with SIGKILL after ``acks`` acknowledgements; return the last one seen."""
    assert proc.stdout is not None
    last = 0
    for _ in range(acks):
        line = proc.stdout.readline()
        assert line, f"writer died early: {proc.stderr.read() if proc.stderr else ''}"
        last = int(line)
    proc.kill()
    rest, _ = proc.communicate(timeout=30)  # acknowledged before the kill landed
    for line in rest.split():
        last = int(line)
    return last


@pytest.mark.parametrize(
    ("mode", "fsync", "acks"),
    [
        ("single", "fsync", (5, 40)),
        ("single", "nofsync", (50, 300)),
        ("batch", "fsync", (3, 20)),
        ("batch", "nofsync", (20, 120)),
    ],
)
def test_sigkill_mid_stream_keeps_every_acknowledged_version(
    tmp_path: Path, mode: str, fsync: str, acks: tuple[int, int]
) -> None:
    base = tmp_path / "data"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    acknowledged = 0
    for _round in range(2):  # the second writer continues a folder a killed one left
        proc = _start(tmp_path, WRITER, str(base), mode, fsync)
        acknowledged = _kill_after(proc, rng.randint(*acks))
        with open_backend(base) as backend:
            head = backend.head_version("a")
            assert head >= acknowledged, f"seed {seed}: lost acknowledged versions"
            versions = backend.get_versions("a")
            assert [v.number for v in versions] == list(range(1, head + 1)), f"seed {seed}"
            assert backend.get_state("a") == state_after(head)
            assert backend.state_at("a", acknowledged) == state_after(acknowledged)
            if mode == "batch":  # all-or-none across the two states
                assert backend.head_version("b") == head
                assert backend.get_state("b") == state_after(head)
            assert not list((base / "journal").glob("*.undo.json"))  # rolled back on open
    with open_backend(base) as backend:
        head = backend.head_version("a")
        backend.save_version("a", version("a", head + 1))
        assert backend.get_state("a") == state_after(head + 1)
    # On disk: every complete line of every log is valid and in sequence (only an
    # unacknowledged fragment may follow, and the write above cut the one of "a").
    for log in log_files(base):
        raw = log.read_bytes()
        lines = [json.loads(line) for line in raw[: raw.rfind(b"\n") + 1].splitlines()]
        numbers = [line["number"] for line in lines[1:]]
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) >= acknowledged


def test_two_processes_never_lose_an_update(tmp_path: Path) -> None:
    base = tmp_path / "data"
    with open_backend(base) as backend:
        backend.set_state("counter", {"count": 0})
    per_writer = 40
    acked = hammer(
        {"url": f"file://{quote(str(base))}?fsync=true"},
        "counter",
        per_writer,
        ["x", "y"],
        mode="increment",
    )
    with open_backend(base) as backend:
        assert backend.get_state("counter") == {"count": 2 * per_writer}
        assert_hammered(backend, "counter", acked, ["x", "y"], mode="increment")


def test_killed_log_with_damage_in_the_middle_is_still_reported(tmp_path: Path) -> None:
    # Recovery must not hide real damage: only the tail may be torn.
    base = tmp_path / "data"
    proc = _start(tmp_path, WRITER, str(base), "single", "nofsync")
    _kill_after(proc, 30)
    (log,) = log_files(base)
    lines = log.read_bytes().splitlines(keepends=True)
    lines[5] = b"\x00\x00\x00\n"
    log.write_bytes(b"".join(lines))
    with open_backend(base) as backend, pytest.raises(CorruptDataError, match="line 6"):
        backend.get_state("a")
