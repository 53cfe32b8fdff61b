"""Low-level file operations of the file backend: atomic, durable, mapped errors.

Every helper here either completes or raises
:class:`~agui_state.errors.StorageError` (``raise ... from`` the ``OSError``);
no ``OSError`` escapes. The two write shapes:

* :meth:`FileIO.write_atomic` -- a whole file: temp file in the same folder,
  write, flush, ``fsync``, (rotate backups), ``os.replace``, ``fsync`` of the
  folder. Readers see the old file or the new one, never a mix; the rename is
  the commit point of that file.
* :meth:`FileIO.append` -- bytes at the end of an append-only log, then
  ``fdatasync``. A crash can leave a torn tail; log readers ignore it (see
  ``log``) and the next writer truncates it under the lock.

Folders are fsynced only when an entry is created, renamed or removed, never
on a plain append.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from agui_state.errors import StorageError, ValidationError

__all__ = ["Counters", "FileIO", "dumps_line", "path_exists", "pread", "storage_error"]

BACKEND = "file"

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a path component is not a folder",
    errno.EISDIR: "is a folder",
    errno.EMFILE: "too many open files",
    errno.ENAMETOOLONG: "file name too long",
    errno.EIO: "input/output error",
}


def storage_error(exc: OSError, op: str, path: Path | str) -> StorageError:
    """Translate an ``OSError`` into a :class:`StorageError` naming op and path."""
    reason = _REASONS.get(exc.errno or -1) or exc.strerror or type(exc).__name__
    return StorageError(f"cannot {op} {str(path)!r}: {reason} (errno {exc.errno})", backend=BACKEND)


def path_exists(path: Path, *, folder: bool = False) -> bool:
    """Whether ``path`` exists (and is a folder, if asked).

    Unlike ``Path.exists``, an error other than "not there" (permission
    denied on a parent, I/O error) is a :class:`StorageError`, not ``False``
    and not an ``OSError``.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise storage_error(exc, "inspect", path) from exc
    return stat.S_ISDIR(st.st_mode) if folder else True


def pread(fd: int, size: int, offset: int) -> bytes:
    """Read ``size`` bytes at ``offset`` (fewer at end of file) without moving shared state.

    ``os.pread`` where it exists; elsewhere seek + read, which is safe here
    because every reader opens its own descriptor.
    """
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, size)  # pragma: no cover - a regular file gives all bytes up to EOF


# One shared encoder: json.dumps with a non-default option builds a new one per call
# (~0.5 us of a ~2.5 us version line). Encoding keeps no state, so sharing is thread-safe.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def dumps_line(obj: Any, what: str) -> bytes:
    """Serialize ``obj`` as one line of UTF-8 JSON ending in ``\\n``.

    Non-ASCII text stays readable; text that UTF-8 cannot carry (lone
    surrogates) falls back to ``\\u`` escapes, which round-trip exactly.

    Raises:
        ValidationError: ``obj`` is not JSON-serializable (names ``what``).
    """
    try:
        text = _ENCODER.encode(obj)
        try:
            return text.encode("utf-8") + b"\n"
        except UnicodeEncodeError:
            return json.dumps(obj, ensure_ascii=True).encode("ascii") + b"\n"
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(what, f"not JSON-serializable: {exc}") from exc


class Counters:
    """Thread-safe named counters reported by ``stats()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        with self._lock:
            self._counts[name] += amount

    def snapshot(self) -> dict[str, int]:
        """Return a copy of all counters."""
        with self._lock:
            return dict(self._counts)


class FileIO:
    """File operations honouring ``file_mode`` and the ``fsync`` option.

    Args:
        file_mode: Permission bits of every created file (set with an
            explicit ``chmod``, so the umask does not change them).
        fsync: Whether to fsync files and folders (off: scratch use only).
        counters: Where ``fsyncs`` and ``bytes_written`` are counted.
    """

    def __init__(self, *, file_mode: int, fsync: bool, counters: Counters) -> None:
        self.file_mode = file_mode
        # Folders get x wherever the file mode grants r, so what can be read can be listed.
        self.dir_mode = file_mode | ((file_mode & 0o444) >> 2) | 0o700
        self.fsync_enabled = fsync
        self.counters = counters
        self._known_dirs: set[str] = set()

    # ------------------------------------------------------------------ fsync
    def sync_fd(self, fd: int) -> None:
        """Flush file data (and the size) of ``fd`` to disk, if fsync is on."""
        if self.fsync_enabled:
            if hasattr(os, "fdatasync"):
                os.fdatasync(fd)
            else:  # pragma: no cover - macOS/Windows
                os.fsync(fd)
            self.counters.add("fsyncs")

    def sync_dir(self, path: Path) -> None:
        """Make entry creations/renames/removals in folder ``path`` durable."""
        if not self.fsync_enabled or os.name == "nt":  # Windows cannot open a folder to sync it
            return
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            raise storage_error(exc, "open folder", path) from exc
        try:
            os.fsync(fd)
            self.counters.add("fsyncs")
        except OSError as exc:
            # Some file systems cannot fsync folders (EINVAL); the data itself is synced.
            if exc.errno not in (errno.EINVAL, errno.EBADF, errno.EISDIR):
                raise storage_error(exc, "fsync folder", path) from exc
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- folders
    def makedirs(self, path: Path) -> None:
        """Create ``path`` and missing parents with ``dir_mode``, durably."""
        key = str(path)
        if key in self._known_dirs:
            return
        missing: list[Path] = []
        probe = path
        while not path_exists(probe, folder=True):
            missing.append(probe)
            if probe.parent == probe:
                break
            probe = probe.parent
        for folder in reversed(missing):
            try:
                os.mkdir(folder, self.dir_mode)
                os.chmod(folder, self.dir_mode)
            except FileExistsError:
                continue
            except OSError as exc:
                raise storage_error(exc, "create folder", folder) from exc
            self.sync_dir(folder.parent)
        self._known_dirs.add(key)

    def forget_dir(self, path: Path) -> None:
        """Forget that ``path`` exists (after removing it)."""
        self._known_dirs.discard(str(path))

    # ------------------------------------------------------------------ reads
    def read_bytes(self, path: Path) -> bytes | None:
        """Return the content of ``path``, or None when it does not exist."""
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise storage_error(exc, "read", path) from exc

    # ----------------------------------------------------------------- writes
    def _create(self, path: Path, flags: int) -> int:
        flags |= os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags, self.file_mode)
        try:
            os.chmod(path, self.file_mode)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        self.counters.add("bytes_written", len(data))

    def temp_path(self, path: Path) -> Path:
        """Return a fresh hidden temp name next to ``path``."""
        return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")

    def write_atomic(self, path: Path, data: bytes, *, backups: int = 0) -> None:
        """Replace ``path`` with ``data`` atomically and durably.

        Args:
            path: The file to create or replace.
            data: Its new content.
            backups: When > 0 and ``path`` exists, keep its current content as
                ``.bak.1`` (older ones shift to ``.bak.2``...; the oldest
                beyond ``backups`` is dropped) just before the replace.
        """
        self.makedirs(path.parent)
        tmp = self.temp_path(path)
        try:
            try:
                fd = self._create(tmp, os.O_WRONLY)
            except FileNotFoundError:
                # The folder was removed by another process (a deleted state's snapshots).
                self.forget_dir(path.parent)
                self.makedirs(path.parent)
                fd = self._create(tmp, os.O_WRONLY)
            try:
                self._write_all(fd, data)
                self.sync_fd(fd)
            finally:
                os.close(fd)
            if backups > 0:
                self.rotate_backups(path, backups)
            os.replace(tmp, path)  # the commit point of this file
        except OSError as exc:
            self.unlink(tmp)
            raise storage_error(exc, "write", path) from exc
        self.sync_dir(path.parent)

    def create_exclusive(self, path: Path, data: bytes) -> None:
        """Create ``path`` with ``data`` (not atomic; for probes and lock files)."""
        try:
            fd = self._create(path, os.O_WRONLY)
            try:
                self._write_all(fd, data)
                self.sync_fd(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise storage_error(exc, "create", path) from exc

    def append(self, path: Path, data: bytes, *, truncate_to: int | None = None) -> int:
        """Append ``data`` to the existing file ``path`` and sync it.

        Args:
            path: An append-only log.
            data: Complete lines.
            truncate_to: Cut the file to this size first (drops a torn tail).

        Returns:
            The offset at which ``data`` starts.

        If the write fails half-way, the partial bytes are cut off again
        (best effort: a torn tail is ignored by readers anyway).
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise storage_error(exc, "open for append", path) from exc
        start = -1
        try:
            if truncate_to is not None:
                os.ftruncate(fd, truncate_to)
            start = os.lseek(fd, 0, os.SEEK_END)
            self._write_all(fd, data)
            self.sync_fd(fd)
        except OSError as exc:
            if start >= 0:
                # Best effort: a torn tail is ignored by readers and cut by the next writer.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
            raise storage_error(exc, "append to", path) from exc
        finally:
            os.close(fd)
        return start

    def truncate(self, path: Path, size: int) -> None:
        """Cut ``path`` to ``size`` bytes (if it is longer) and sync it."""
        try:
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise storage_error(exc, "open for truncate", path) from exc
        try:
            if os.fstat(fd).st_size > size:
                os.ftruncate(fd, size)
                self.sync_fd(fd)
        except OSError as exc:
            raise storage_error(exc, "truncate", path) from exc
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- backups
    @staticmethod
    def backup_path(path: Path, generation: int) -> Path:
        """Return the name of backup ``generation`` (1 = newest) of ``path``."""
        return path.with_name(f"{path.name}.bak.{generation}")

    def rotate_backups(self, path: Path, count: int, *, current: Path | None = None) -> None:
        """Shift ``.bak.i`` to ``.bak.i+1`` and keep ``current`` (default ``path``) as ``.bak.1``.

        ``current`` is hard-linked (no copy; a copy when links are not
        supported) or, when it is a spare file of ours, renamed. A crash half
        way leaves two equal generations, never a missing main file.
        """
        source = current or path
        if not path_exists(source):
            return
        try:
            extra = count + 1
            while path_exists(self.backup_path(path, extra)):  # backup_count was lowered
                os.unlink(self.backup_path(path, extra))
                extra += 1
            for gen in range(count - 1, 0, -1):
                older = self.backup_path(path, gen)
                if path_exists(older):
                    os.replace(older, self.backup_path(path, gen + 1))
            newest = self.backup_path(path, 1)
            if current is not None:
                os.replace(current, newest)
                return
            tmp = self.temp_path(newest)
            try:
                os.link(path, tmp)
            except OSError:
                self.write_atomic(tmp, path.read_bytes())
            os.replace(tmp, newest)
        except OSError as exc:
            raise storage_error(exc, "rotate backups of", path) from exc

    # ---------------------------------------------------------------- removal
    def unlink(self, path: Path) -> bool:
        """Remove ``path`` if it exists; return whether it did. Errors are raised."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise storage_error(exc, "remove", path) from exc
        return True

    def remove_tree(self, path: Path) -> None:
        """Remove a folder of plain files (one level) and the folder itself."""
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise storage_error(exc, "list", path) from exc
        for entry in entries:
            self.unlink(Path(entry.path))
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise storage_error(exc, "remove folder", path) from exc
        self.forget_dir(path)
