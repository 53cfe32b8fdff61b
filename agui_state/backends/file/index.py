"""The state-id index behind ``list_states``: an append-only file, mirrored sorted in memory.

``index/state-ids.jsonl``::

    {"format": 1, "kind": "state-index", "gen": "4be1..."}
    {"add": "thread-1"}
    {"add": "../../etc/passwd"}
    {"del": "thread-1"}

Why this shape: paging must not read every state file, and the ids cannot be
recovered from file names (they are one-way encoded). Appending one line per
creation/deletion is O(1) and crash-safe with the same torn-tail rule as the
version logs; each process keeps a sorted list of the live ids and, on each
``list_states``, parses only the bytes appended since (change detected by
size and file identity), so a page costs a ``stat`` plus a bisect. When
deletions make the file mostly dead lines it is compacted (rewritten
atomically under the index lock; the new ``gen`` makes readers reload).
Rejected: an atomically rewritten full list per creation (O(states) per
create); a directory walk per page (reads every header).

Consistency with the state files, without a second commit point: an id is
added *before* its log is created and removed *after* its log is deleted, so
a crash can leave an id listed whose state does not exist, never the
reverse. ``page`` drops such ids by checking that the log exists (one ``stat``
per returned id), and compaction forgets them.

A missing or damaged index is rebuilt from the log headers (each names its
exact state id), with a warning.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from agui_state.backends.file.io import (
    Counters,
    FileIO,
    dumps_line,
    path_exists,
    pread,
    storage_error,
)
from agui_state.backends.file.locks import LockManager
from agui_state.errors import CorruptDataError
from agui_state.models import FORMAT

__all__ = ["StateIndex"]

logger = logging.getLogger("agui_state.backends.file")

_COMPACT_MIN_LINES = 1000


class StateIndex:
    """Sorted, paged state ids of one base folder.

    Args:
        path: The index file.
        io: File helper.
        locks: Lock manager (its index lock guards writers).
        counters: Stats counters.
        scan_ids: Yields the state id of every existing log (for rebuilds).
    """

    def __init__(
        self,
        path: Path,
        io: FileIO,
        locks: LockManager,
        counters: Counters,
        scan_ids: Callable[[], Iterable[str]],
    ) -> None:
        self.path = path
        self._io = io
        self._locks = locks
        self._counters = counters
        self._scan_ids = scan_ids
        self._mem = threading.RLock()
        self._ids: list[str] = []
        self._set: set[str] = set()
        self._identity: tuple[int, int, bytes] | None = None
        self._offset = 0
        self._lines = 0

    # ---------------------------------------------------------------- reading
    def _reset(self) -> None:
        self._ids, self._set, self._identity, self._offset, self._lines = [], set(), None, 0, 0

    def _refresh(self) -> int:
        """Catch up with the file (memory lock held). Returns the file size seen."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            self._reset()
            return -1
        except OSError as exc:
            raise storage_error(exc, "open", self.path) from exc
        try:
            st = os.fstat(fd)
            ident = self._identity
            if (
                ident is None
                or ident[:2] != (st.st_dev, st.st_ino)
                or st.st_size < self._offset
                or pread(fd, len(ident[2]), 0) != ident[2]
            ):
                self._reset()
                data = pread(fd, st.st_size, 0)
                nl = data.find(b"\n")
                header = data[: nl + 1]
                if nl < 0 or _header_gen(header) is None:
                    raise CorruptDataError(
                        str(self.path), "missing or bad index header", backend="file"
                    )
                self._identity = (st.st_dev, st.st_ino, header)
                self._offset = len(header)
                self._apply(data[len(header) :], fresh=True)
            elif st.st_size > self._offset:
                self._apply(pread(fd, st.st_size - self._offset, self._offset), fresh=False)
            return st.st_size
        except OSError as exc:
            raise storage_error(exc, "read", self.path) from exc
        finally:
            os.close(fd)

    def _apply(self, tail: bytes, *, fresh: bool) -> None:
        pos = 0
        while True:
            nl = tail.find(b"\n", pos)
            if nl < 0:
                break  # torn or still-being-written last line
            try:
                entry = json.loads(tail[pos:nl])
                op, sid = next(iter(entry.items()))
                if op not in ("add", "del") or not isinstance(sid, str) or len(entry) != 1:
                    raise ValueError("not an add/del entry")
            except (ValueError, TypeError, AttributeError, StopIteration) as exc:
                if tail.find(b"\n", nl + 1) < 0:
                    break  # a bad last line is a torn write
                raise CorruptDataError(
                    f"{self.path} byte {self._offset + pos}", str(exc), backend="file"
                ) from exc
            if op == "add":
                if sid not in self._set:
                    self._set.add(sid)
                    if not fresh:  # a fresh load sorts once at the end
                        bisect.insort(self._ids, sid)
            elif sid in self._set:
                self._set.discard(sid)
                if not fresh:
                    del self._ids[bisect.bisect_left(self._ids, sid)]
            self._lines += 1
            pos = nl + 1
        self._offset += pos
        if fresh:
            self._ids = sorted(self._set)

    def _ensure_loaded(self) -> None:
        """Refresh for a reader (no lock held), rebuilding a damaged or missing index.

        The rebuild runs after the memory lock is released: it takes the index
        lock, which must never be taken while holding the memory lock.
        """
        problem: CorruptDataError | None = None
        with self._mem:
            try:
                if self._refresh() >= 0:
                    return
            except CorruptDataError as exc:
                problem = exc
        if problem is not None:
            logger.warning(
                "state index %s is damaged (%s); rebuilding it from the logs", self.path, problem
            )
            self._counters.add("corrupt_files_recovered")
        self.rebuild()

    def _load(self) -> int:
        """Refresh (index lock held), rebuilding a damaged or missing index. Returns the size."""
        try:
            size = self._refresh()
        except CorruptDataError as exc:
            logger.warning(
                "state index %s is damaged (%s); rebuilding it from the logs", self.path, exc
            )
            self._counters.add("corrupt_files_recovered")
            self.rebuild()
            return self._refresh()
        if size < 0:
            self.rebuild()
            return self._refresh()
        return size

    # ---------------------------------------------------------------- writing
    def rebuild(self) -> None:
        """Rewrite the index from the log headers (under the index lock)."""
        with self._locks.hold_index(), self._mem:
            try:
                if path_exists(self.path):
                    self._refresh()
                    return  # another writer rebuilt it, or it was fine after all
            except CorruptDataError:
                pass
            ids = sorted(set(self._scan_ids()))
            self._write_full(ids)

    def _write_full(self, ids: list[str]) -> None:
        header = dumps_line(
            {"format": FORMAT, "kind": "state-index", "gen": secrets.token_hex(8)}, "index"
        )
        body = b"".join(dumps_line({"add": sid}, "state_id") for sid in ids)
        self._io.write_atomic(self.path, header + body)
        self._reset()

    def _append(self, op: str, state_id: str) -> None:
        size = self._load()
        if (state_id in self._set) == (op == "add"):
            return  # already as wanted: nothing to write
        line = dumps_line({op: state_id}, "state_id")
        torn = size > self._offset
        if torn:
            self._counters.add("recovered_torn_tails")
            logger.warning("cutting a torn tail of %d bytes off %s", size - self._offset, self.path)
        start = self._io.append(self.path, line, truncate_to=self._offset if torn else None)
        self._offset = start + len(line)
        self._lines += 1
        if op == "add":
            self._set.add(state_id)
            bisect.insort(self._ids, state_id)
        else:
            self._set.discard(state_id)
            del self._ids[bisect.bisect_left(self._ids, state_id)]

    def add(self, state_id: str) -> None:
        """List ``state_id`` (durably) if it is not listed yet."""
        with self._locks.hold_index(), self._mem:
            self._append("add", state_id)

    def remove(self, state_id: str, exists: Callable[[str], bool]) -> None:
        """Unlist ``state_id``; compact the file when it is mostly dead lines."""
        with self._locks.hold_index(), self._mem:
            self._append("del", state_id)
            if self._lines > _COMPACT_MIN_LINES and self._lines > 4 * len(self._set):
                self._write_full([sid for sid in self._ids if exists(sid)])

    # ----------------------------------------------------------------- paging
    def page(
        self, prefix: str | None, limit: int, after: str | None, exists: Callable[[str], bool]
    ) -> list[str]:
        """Return up to ``limit`` existing ids > ``after`` starting with ``prefix``, ascending."""
        self._ensure_loaded()
        with self._mem:
            self._refresh()
            ids = self._ids
            i = 0 if after is None else bisect.bisect_right(ids, after)
            if prefix:
                i = max(i, bisect.bisect_left(ids, prefix))
            out: list[str] = []
            while i < len(ids) and len(out) < limit:
                sid = ids[i]
                if prefix and not sid.startswith(prefix):
                    break
                if exists(sid):
                    out.append(sid)
                i += 1
            return out

    def count(self) -> int:
        """Return how many ids are listed (may include ids of crashed creations)."""
        self._ensure_loaded()
        with self._mem:
            self._refresh()
            return len(self._set)


def _header_gen(raw: bytes) -> str | None:
    try:
        header = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("kind") != "state-index":
        return None
    gen = header.get("gen")
    return gen if isinstance(gen, str) else None
