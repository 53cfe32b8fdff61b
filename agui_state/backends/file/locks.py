"""Writer locks of the file backend: striped file locks (``flock``), taken in order.

Writers (across threads and processes) serialize per state. Each state id
maps to one of :data:`~agui_state.backends.file.names.LOCK_STRIPES` lock files
``locks/stripe-NNNN.lock`` (a stable hash of the id). Striping instead of one
lock file per state keeps the number of lock files bounded: a per-state lock
file can never be deleted safely (a waiter may hold the old inode), so
per-state files would pile up for every state ever deleted. Two states in the
same stripe merely serialize their writers.

A batch spanning several states takes its stripes in ascending order, so two
batches can never wait for each other in a cycle. The index lock
(``locks/index.lock``) is always taken last, after any stripe.

Inside one process a ``threading.RLock`` per stripe is taken before the file
lock, so threads block on a real lock instead of polling, and a thread may
re-enter a stripe it holds (prune calls helpers that lock again).
Readers take no lock: every file they read is replaced atomically or only
appended to.

The file lock is a plain ``flock(2)`` where the platform has it: open the
lock file, ``LOCK_EX | LOCK_NB`` (polled until the timeout), ``LOCK_UN`` and
close on release. That is what ``filelock`` does underneath too (so both
interoperate), minus its bookkeeping, which cost ~100 us per write: a third
of a synchronous update on a disk whose ``fdatasync`` takes ~150 us.
Elsewhere (Windows, a file system without ``flock``) ``filelock`` is used.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType

import filelock

from agui_state.backends.file.io import FileIO, path_exists, storage_error
from agui_state.errors import BackendTimeoutError, StorageError

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LockManager"]

_POLL_SECONDS = 0.002  # cross-process waits poll the flock; keep hand-over latency low


# flock refused by the file system itself (not contention): use filelock instead.
_NO_FLOCK = frozenset({errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP})
_BUSY = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


class _Lock:
    """One in-process RLock plus its cross-process file lock."""

    def __init__(self, path: Path, io: FileIO) -> None:
        self.path = path
        self.thread_lock = threading.RLock()
        self._io = io
        self._file_lock: filelock.FileLock | None = None
        self._use_flock = fcntl is not None
        # Nesting of the thread holding thread_lock, and its flock descriptor.
        # Only touched by that thread, so thread_lock guards them.
        self._depth = 0
        self._fd = -1

    def _ensure_file(self) -> None:
        if not path_exists(self.path.parent, folder=True):  # removed by hand: recreate it
            self._io.forget_dir(self.path.parent)
            self._io.makedirs(self.path.parent)
        if not path_exists(self.path):
            # Created here so that file_mode applies exactly (umask-independent).
            # Losing the race to another process is fine; a real error shows on acquire.
            with contextlib.suppress(StorageError):
                self._io.create_exclusive(self.path, b"")

    def file_lock(self) -> filelock.FileLock:
        if self._file_lock is None:
            self._ensure_file()
            # thread_local=False: our RLock already admits one thread at a time,
            # and the same thread may re-enter (filelock counts the nesting).
            self._file_lock = filelock.FileLock(
                str(self.path), thread_local=False, mode=self._io.file_mode
            )
        return self._file_lock

    def acquire(self, timeout: float, poll: float) -> None:
        """Take the file lock (the caller holds ``thread_lock``); re-entrant.

        Raises:
            filelock.Timeout: Another process held it for ``timeout`` seconds.
            OSError: The lock file cannot be opened or locked.
        """
        if not self._use_flock:
            self.file_lock().acquire(timeout=timeout, poll_interval=poll)
            return
        if self._depth:
            self._depth += 1
            return
        assert fcntl is not None
        try:
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            self._ensure_file()
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno in _NO_FLOCK:
                        os.close(fd)
                        fd = -1
                        self._use_flock = False  # this file system: filelock from now on
                        self.file_lock().acquire(timeout=timeout, poll_interval=poll)
                        return
                    if exc.errno not in _BUSY:
                        raise
                if time.monotonic() >= deadline:
                    raise filelock.Timeout(str(self.path))
                time.sleep(poll)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        self._fd, self._depth = fd, 1

    def release(self) -> None:
        """Release one level of the file lock (closing the descriptor drops the flock)."""
        if self._depth == 0:
            if self._file_lock is not None:
                self._file_lock.release()
            return
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


class LockManager:
    """Hands out the stripe and index locks under ``lock_dir``.

    Args:
        lock_dir: The ``locks/`` folder.
        io: File helper (modes, error mapping).
        timeout: Seconds to wait for a lock before :class:`BackendTimeoutError`.
    """

    def __init__(self, lock_dir: Path, io: FileIO, timeout: float) -> None:
        self._dir = lock_dir
        self._io = io
        self._timeout = timeout
        self._guard = threading.Lock()
        self._locks: dict[str, _Lock] = {}

    def _get(self, name: str) -> _Lock:
        with self._guard:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = _Lock(self._dir / f"{name}.lock", self._io)
            return lock

    @contextmanager
    def _hold_one(self, lock: _Lock) -> Iterator[None]:
        if not lock.thread_lock.acquire(timeout=self._timeout):
            raise BackendTimeoutError(
                f"timed out after {self._timeout}s waiting for lock {str(lock.path)!r} "
                "(held by another thread)",
                backend="file",
            )
        try:
            try:
                lock.acquire(self._timeout, _POLL_SECONDS)
            except filelock.Timeout as exc:
                raise BackendTimeoutError(
                    f"timed out after {self._timeout}s waiting for lock {str(lock.path)!r} "
                    "(held by another process)",
                    backend="file",
                ) from exc
            except OSError as exc:
                raise storage_error(exc, "lock", lock.path) from exc
            try:
                yield
            finally:
                with contextlib.suppress(OSError):  # closing a lock fd does not fail in practice
                    lock.release()
        finally:
            lock.thread_lock.release()

    @contextmanager
    def hold(self, stripes: Iterable[int]) -> Iterator[None]:
        """Hold the given stripes (taken in ascending order) for the block."""
        with ExitStack() as stack:
            for stripe in sorted(set(stripes)):
                stack.enter_context(self._hold_one(self._get(f"stripe-{stripe:04d}")))
            yield

    @contextmanager
    def hold_index(self) -> Iterator[None]:
        """Hold the state-id index lock (take it after any stripe, never before)."""
        with self._hold_one(self._get("index")):
            yield

    def lock_files(self) -> int:
        """Return how many lock files exist (for stats)."""
        try:
            return sum(1 for e in os.scandir(self._dir) if e.name.endswith(".lock"))
        except OSError:
            return 0
