"""A PersistentStateStore process killed with SIGKILL loses no acknowledged write.

The writer process uses the public API on the file backend (fsync on, the
default) and prints each version number after ``apply_patch`` returned, i.e.
once the write is acknowledged. The test kills it at a random moment, reopens
the store and checks every acknowledged version, the gap-free history, and
that the store goes on writing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agui_state import PersistentStateStore
from agui_state.backends import create_backend

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]

WRITER = r"""
import sys
from agui_state import PersistentStateStore

url = sys.argv[1]
store = PersistentStateStore(url, state_id="crash")
n = store.version
while True:
    n += 1
    version = store.apply_patch([
        {"op": "add", "path": f"/k{n}", "value": n},
        {"op": "add", "path": "/last", "value": n},
    ])
    assert version.number == n
    print(n, flush=True)
"""


@pytest.mark.parametrize("round_", range(2))
def test_sigkill_keeps_every_acknowledged_synchronous_write(tmp_path: Path, round_: int) -> None:
    url = f"file://{tmp_path / 'data'}?checkpoint_interval=5&backup_count=2"
    acked: list[int] = []
    for _run in range(2):  # kill, restart on the same folder, kill again
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, url],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        assert proc.stdout is not None
        target = random.Random(round_ * 10 + _run).randint(15, 60)
        deadline = time.monotonic() + 60
        for _ in range(target):
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"writer died: {proc.stderr.read() if proc.stderr else ''}")
            acked.append(int(line))
            if time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Lines printed before the kill may still sit in the pipe: they were acknowledged too.
        acked.extend(int(line) for line in proc.stdout.read().split())
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()

    with PersistentStateStore(url, state_id="crash") as store:
        assert store.version >= acked[-1]
        state = store.get_state()
        for n in acked:
            assert state[f"k{n}"] == n, f"acknowledged version {n} lost"
        assert state["last"] == store.version
        # Not wedged: the store goes on from where the log ends.
        assert store.set("/after", True).number == store.version
    with create_backend(url) as backend:
        numbers = [v.number for v in backend.get_versions("crash")]
        assert numbers == list(range(1, len(numbers) + 1))
        assert backend.state_at("crash", acked[-1])["last"] == acked[-1]
