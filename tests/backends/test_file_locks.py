"""File backend writer locks across processes: held elsewhere means wait, then time out.

The stripe lock is a plain ``flock``; a process holding the same lock file
through the ``filelock`` package (what other tools or older versions use)
must exclude our writers too.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from agui_state.backends import create_backend
from agui_state.backends.file.names import lock_stripe
from agui_state.errors import BackendTimeoutError
from agui_state.testing.helpers import make_version

HOLDER = r"""
import sys, time
import filelock
lock = filelock.FileLock(sys.argv[1])
with lock:
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_writer_times_out_while_another_process_holds_the_stripe(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'data'}?write_timeout=0.3&fsync=false"
    with create_backend(url) as backend:
        backend.save_version("s", make_version("s", 1))  # creates the folder and lock files
        lock_path = tmp_path / "data" / "locks" / f"stripe-{lock_stripe('s'):04d}.lock"
        assert lock_path.exists()
        holder = _hold(lock_path, 5)
        try:
            started = time.monotonic()
            with pytest.raises(BackendTimeoutError) as info:
                backend.save_version("s", make_version("s", 2))
            assert time.monotonic() - started < 3
            assert "stripe-" in str(info.value)
            assert backend.head_version("s") == 1  # nothing was written
        finally:
            holder.kill()
            holder.wait()
        # Once the other process is gone, writing works again.
        backend.save_version("s", make_version("s", 2))
        assert backend.head_version("s") == 2


def test_writer_waits_for_a_short_hold(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'data'}?write_timeout=10&fsync=false"
    with create_backend(url) as backend:
        backend.save_version("s", make_version("s", 1))
        lock_path = tmp_path / "data" / "locks" / f"stripe-{lock_stripe('s'):04d}.lock"
        holder = _hold(lock_path, 0.5)
        try:
            started = time.monotonic()
            backend.save_version("s", make_version("s", 2))
            waited = time.monotonic() - started
        finally:
            holder.wait()
        assert waited >= 0.2, "the write should have waited for the other process"
        assert backend.head_version("s") == 2


def test_lock_folder_removed_is_recreated(tmp_path: Path) -> None:
    import shutil

    url = f"file://{tmp_path / 'data'}?fsync=false"
    with create_backend(url) as backend:
        backend.save_version("s", make_version("s", 1))
        shutil.rmtree(tmp_path / "data" / "locks")
        backend.save_version("s", make_version("s", 2))
        assert backend.head_version("s") == 2
        assert (tmp_path / "data" / "locks").is_dir()
