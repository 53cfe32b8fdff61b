"""The files of each state: where they live and how they are read back.

:class:`StateFiles` knows the paths (sharded or not, names from
``names``) and the read rules of ``backend.py``'s docstring: a state exists
iff its log exists; its latest checkpoint is the newer of the checkpoint file
and the newest checkpoint line of the log (a tie goes to the file); a damaged
checkpoint file is replaced by its newest good backup, with a warning.

Reads take no lock. Each one opens the log once and reads everything from
that descriptor, so a concurrent prune (which renames a new log into place)
cannot pair a checkpoint with a log it does not fit.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agui_state.backends.base import Checkpoint
from agui_state.backends.file.io import Counters, FileIO, path_exists, pread, storage_error
from agui_state.backends.file.locks import LockManager
from agui_state.backends.file.log import LogCache, LogIndex, make_header, parse_line
from agui_state.backends.file.names import encode_name, lock_stripe, shard_of
from agui_state.errors import CorruptDataError, NotFoundError, StateError, StorageError
from agui_state.models import State, StateSnapshot, StateVersion

__all__ = ["OpenLog", "StateFiles"]

logger = logging.getLogger("agui_state.backends.file")

BACKEND = "file"
MAX_BACKUP_PROBE = 64
"""Backups beyond ``backup_count`` (left by a larger earlier setting) are looked at up to here."""
_PATHS_CACHED = 4096
"""Log paths memoized per instance (the cache is simply cleared when full)."""


@functools.lru_cache(maxsize=65536)
def _name(text: str) -> str:
    return encode_name(text)


@dataclass
class OpenLog:
    """A log opened for reading, with its index as of opening."""

    fd: int
    path: Path
    index: LogIndex
    head: int


class StateFiles:
    """Paths and reads of the state files under one base folder."""

    def __init__(
        self,
        base: Path,
        *,
        sharding: bool,
        shards: int,
        backups: int,
        io: FileIO,
        counters: Counters,
        locks: LockManager,
    ) -> None:
        self.base = base
        self.sharding = sharding
        self.shards = shards
        self.backups = backups
        self.io = io
        self.counters = counters
        self.locks = locks
        self.logs = LogCache()
        self._log_paths: dict[str, Path] = {}

    # ------------------------------------------------------------------ paths
    def _dir(self, kind: str, state_id: str) -> Path:
        root = self.base / kind
        return root / f"shard_{shard_of(state_id, self.shards)}" if self.sharding else root

    def log_path(self, state_id: str) -> Path:
        """The version log (its existence is the state's)."""
        # Memoized: building the Path costs ~10 us and every write needs it twice.
        path = self._log_paths.get(state_id)
        if path is None:
            if len(self._log_paths) >= _PATHS_CACHED:
                self._log_paths.clear()
            path = self._dir("versions", state_id) / f"{_name(state_id)}.log"
            self._log_paths[state_id] = path
        return path

    def cp_path(self, state_id: str) -> Path:
        """The checkpoint file."""
        return self._dir("states", state_id) / f"{_name(state_id)}.json"

    def origin_path(self, state_id: str) -> Path:
        """The origin file: the state at version 0 (absent: ``{}``)."""
        return self._dir("origins", state_id) / f"{_name(state_id)}.json"

    def snap_dir(self, state_id: str) -> Path:
        """The folder of the state's snapshots."""
        return self._dir("snapshots", state_id) / _name(state_id)

    def snap_path(self, state_id: str, snapshot_id: str) -> Path:
        """One snapshot's file (the snapshot id is encoded too)."""
        return self.snap_dir(state_id) / f"{_name(snapshot_id)}.json"

    def exists(self, state_id: str) -> bool:
        """Whether the state exists (one ``stat``)."""
        return path_exists(self.log_path(state_id))

    # ------------------------------------------------------------------- logs
    def _open_fd(self, path: Path) -> int | None:
        try:
            return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise storage_error(exc, "open", path) from exc

    @staticmethod
    def _check_owner(index: LogIndex, state_id: str, path: Path) -> None:
        if index.state_id != state_id:
            reason = f"log of state {index.state_id!r} found for {state_id!r}"
            raise CorruptDataError(str(path), reason, backend=BACKEND)

    @contextmanager
    def log(self, state_id: str) -> Iterator[OpenLog | None]:
        """Open a state's log and its up-to-date index (None: the state does not exist)."""
        path = self.log_path(state_id)
        fd = self._open_fd(path)
        if fd is None:
            yield None
            return
        try:
            index, _, head = self.logs.refresh(fd, path)
            self._check_owner(index, state_id, path)
            yield OpenLog(fd, path, index, head)
        finally:
            os.close(fd)

    def writer_view(self, state_id: str) -> tuple[LogIndex | None, int]:
        """The log index and file size (call under the writer lock)."""
        path = self.log_path(state_id)
        fd = self._open_fd(path)
        if fd is None:
            return None, 0
        try:
            index, size, _ = self.logs.refresh(fd, path)
        finally:
            os.close(fd)
        self._check_owner(index, state_id, path)
        return index, size

    def pread(self, lg: OpenLog, start: int, end: int) -> bytes:
        """Read committed bytes ``start..end`` of an open log."""
        try:
            data = pread(lg.fd, end - start, start)
        except OSError as exc:
            raise storage_error(exc, "read", lg.path) from exc
        if len(data) != end - start:
            raise CorruptDataError(str(lg.path), "log shrank while being read", backend=BACKEND)
        return data

    def versions(self, lg: OpenLog, first: int, last: int) -> list[StateVersion]:
        """Read versions ``first..last`` (clamped to what the log holds), ascending."""
        first = max(first, lg.index.base + 1)
        last = min(last, lg.head)
        if last < first:
            return []
        start = lg.index.span(first)[0]
        end = lg.index.span(last)[1]
        out = []
        for k, raw in enumerate(self.pread(lg, start, end).split(b"\n")[:-1]):
            line_no = first - lg.index.base + 1 + k  # line 1 is the header
            data = parse_line(raw, lg.path, line_no)
            try:
                out.append(StateVersion.from_dict(data))
            except StateError as exc:
                where = f"{lg.path} line {line_no}"
                raise CorruptDataError(where, str(exc), backend=BACKEND) from exc
        return out

    def committed_lines(self, state_id: str) -> tuple[LogIndex, list[bytes]]:
        """The log's committed version lines, raw (for rewrites under the lock)."""
        with self.log(state_id) as lg:
            if lg is None:
                raise NotFoundError("state", state_id)
            end = lg.index.span(lg.head)[1] if lg.head > lg.index.base else len(lg.index.header)
            data = self.pread(lg, len(lg.index.header), end)
        return lg.index, [line + b"\n" for line in data.split(b"\n")[:-1]]

    def rewrite_log(self, state_id: str, base: int, lines: list[bytes]) -> None:
        """Replace the log atomically (new ``gen``; drops any torn tail)."""
        path = self.log_path(state_id)
        self.io.write_atomic(path, make_header(state_id, base) + b"".join(lines))
        self.logs.drop(path)

    def scan_log_ids(self) -> Iterator[str]:
        """Yield the state id in the header of every log (index rebuilds)."""
        for folder, _dirs, files in os.walk(self.base / "versions"):
            for name in files:
                if name.endswith(".log") and not name.startswith("."):
                    try:
                        with open(os.path.join(folder, name), "rb") as fh:
                            header = json.loads(fh.readline())
                        yield header["state_id"]
                    except (OSError, ValueError, KeyError, TypeError) as exc:
                        logger.warning("index rebuild skips unreadable log %s: %s", name, exc)

    # ------------------------------------------------------------ checkpoints
    def checkpoint(self, state_id: str, lg: OpenLog) -> tuple[Checkpoint, bool]:
        """The latest checkpoint, and whether it came from the checkpoint file.

        Raises:
            NotFoundError: The state was deleted while being read.
            CorruptDataError: The checkpoint file and all its backups are unusable.
        """
        file_cp = self._checkpoint_file(state_id, lg)
        line = lg.index.latest_checkpoint(lg.head)
        if line is not None and line > file_cp.version:
            version = self.versions(lg, line, line)[0]
            assert version.checkpoint is not None
            return Checkpoint(line, version.checkpoint), False
        return file_cp, True

    @staticmethod
    def _parse_checkpoint(raw: bytes | None, state_id: str, lg: OpenLog) -> Checkpoint | str:
        """A usable checkpoint, or why not."""
        if raw is None:
            return "missing"
        try:
            data = json.loads(raw)
        except ValueError as exc:
            return f"not JSON (truncated?): {exc}"
        if not isinstance(data, dict) or data.get("kind") != "checkpoint":
            return "not a checkpoint file"
        version, state = data.get("version"), data.get("state")
        if data.get("state_id") != state_id:
            return f"belongs to state {data.get('state_id')!r}"
        if not isinstance(version, int) or not isinstance(state, dict):
            return "bad version or state"
        if not lg.index.base <= version <= lg.head:
            # Replaying from it would need pruned versions, or versions that do not exist.
            return f"version {version} outside the log's range {lg.index.base}..{lg.head}"
        return Checkpoint(version, state)

    def _checkpoint_file(self, state_id: str, lg: OpenLog) -> Checkpoint:
        path = self.cp_path(state_id)
        raw = self.io.read_bytes(path)
        if raw is None and not self.exists(state_id):
            raise NotFoundError("state", state_id)  # deleted while we read
        found = self._parse_checkpoint(raw, state_id, lg)
        if isinstance(found, Checkpoint):
            return found
        for gen in range(1, MAX_BACKUP_PROBE + 1):
            backup = self.io.backup_path(path, gen)
            braw = self.io.read_bytes(backup)
            if braw is None:
                if gen > self.backups:
                    break
                continue
            good = self._parse_checkpoint(braw, state_id, lg)
            if isinstance(good, Checkpoint):
                logger.warning(
                    "checkpoint file %s is damaged (%s); recovered from backup %s (version %d)",
                    path, found, backup, good.version,
                )  # fmt: skip
                self.counters.add("corrupt_files_recovered")
                self._restore_checkpoint(state_id, path, braw)
                return good
        raise CorruptDataError(str(path), f"{found}; no usable backup", backend=BACKEND)

    def _restore_checkpoint(self, state_id: str, path: Path, content: bytes) -> None:
        """Put a good backup back in place, keeping the damaged file as ``.corrupt``."""
        try:
            with self.locks.hold([lock_stripe(state_id)]):
                raw = self.io.read_bytes(path)
                if raw is not None:
                    try:
                        json.loads(raw)
                        return  # a writer replaced it meanwhile
                    except ValueError:
                        os.replace(path, path.with_name(path.name + ".corrupt"))
                self.io.write_atomic(path, content)
        except (StorageError, OSError) as exc:
            logger.warning("could not put the backup of %s back in place: %s", path, exc)

    def origin(self, state_id: str) -> State:
        """The state's origin (``{}`` without an origin file).

        Raises:
            CorruptDataError: The file is not this state's origin. It is
                written atomically, so that is damage, never a torn write.
        """
        path = self.origin_path(state_id)
        raw = self.io.read_bytes(path)
        if raw is None:
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CorruptDataError(str(path), f"not JSON: {exc}", backend=BACKEND) from exc
        if (
            not isinstance(data, dict)
            or data.get("kind") != "origin"
            or not isinstance(data.get("state"), dict)
        ):
            raise CorruptDataError(str(path), "not an origin file", backend=BACKEND)
        if data.get("state_id") != state_id:
            reason = f"origin of state {data.get('state_id')!r} found for {state_id!r}"
            raise CorruptDataError(str(path), reason, backend=BACKEND)
        state: State = data["state"]
        return state

    # -------------------------------------------------------------- snapshots
    def load_snapshot(self, path: Path, state_id: str) -> StateSnapshot | None:
        """Read one snapshot file (None: it does not exist)."""
        raw = self.io.read_bytes(path)
        if raw is None:
            return None
        try:
            snap = StateSnapshot.from_dict(json.loads(raw))
        except (ValueError, StateError) as exc:
            reason = f"unreadable snapshot: {exc}"
            raise CorruptDataError(str(path), reason, backend=BACKEND) from exc
        if snap.state_id != state_id:
            reason = f"snapshot of state {snap.state_id!r} found for {state_id!r}"
            raise CorruptDataError(str(path), reason, backend=BACKEND)
        return snap

    def snapshots(self, state_id: str) -> list[StateSnapshot]:
        """All snapshot files of a state, unordered."""
        folder = self.snap_dir(state_id)
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise storage_error(exc, "list", folder) from exc
        snaps = []
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                snap = self.load_snapshot(folder / name, state_id)
                if snap is not None:
                    snaps.append(snap)
        return snaps

    # ---------------------------------------------------------------- cleanup
    def remove_leftovers(self, state_id: str) -> None:
        """Remove the checkpoint, backups, origin and snapshots of a state whose log is gone."""
        cp = self.cp_path(state_id)
        self.io.unlink(cp)
        self.io.unlink(self.origin_path(state_id))
        self.io.unlink(cp.with_name(cp.name + ".corrupt"))
        for gen in range(1, MAX_BACKUP_PROBE + 1):
            if not self.io.unlink(self.io.backup_path(cp, gen)) and gen > self.backups:
                break
        self.io.remove_tree(self.snap_dir(state_id))
