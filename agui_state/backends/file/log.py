"""The per-state version log: format, torn-tail rules and a cached offsets index.

A log is UTF-8 JSON lines::

    {"format": 1, "kind": "log", "state_id": "...", "base": 0, "gen": "9f2c..."}
    {"format": 1, "kind": "version", "number": 1, ...the StateVersion dict...}
    {"format": 1, "kind": "version", "number": 2, ..., "batch_end": 3}
    {"format": 1, "kind": "version", "number": 3, ..., "batch_end": 3}

* The header names the exact state id, ``base`` (the number before the first
  stored version: 0, or the last pruned one) and ``gen``, a random token
  renewed whenever the file is rewritten (creation, prune). The head of the
  state is the number of the last *committed* line, or ``base``.
* Version lines are consecutive (``base + 1``, ``base + 2``...): history order
  comes from numbers, never from file names or timestamps.
* A batch of several versions is appended with one ``write``; each of its
  lines carries ``batch_end`` (the batch's last number). The lines count only
  once that last line is there, so a crash inside a batch loses the whole
  batch, never part of it.

Torn tails: a line is complete when it ends in ``\\n``. An incomplete or
unparseable *last* line (and an unfinished batch) is what a crash during an
append leaves: readers ignore it, and the next writer cuts it off under the
lock. A bad line followed by good data is damage, reported as
:class:`~agui_state.errors.CorruptDataError` naming the file and line.

:class:`LogCache` keeps the parsed offsets of each log in memory, keyed by
file identity (device, inode, header bytes incl. ``gen``): as long as the log
only grows, a reader parses only the new bytes, and reading version ``n`` is
one ``pread`` of its line.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agui_state.backends.file.io import dumps_line, pread, storage_error
from agui_state.errors import CorruptDataError
from agui_state.models import FORMAT

__all__ = ["LogCache", "LogIndex", "make_header", "parse_line", "scan_log"]

BACKEND = "file"
MARK_BYTES = 4096


def make_header(state_id: str, base: int) -> bytes:
    """Return a fresh header line (new ``gen``) for a log of ``state_id``."""
    header = {
        "format": FORMAT,
        "kind": "log",
        "state_id": state_id,
        "base": base,
        "gen": secrets.token_hex(8),
    }
    return dumps_line(header, "state_id")


@dataclass
class LogIndex:
    """Parsed offsets of one log file (committed lines only).

    Attributes:
        dev, ino: Identity of the file this index describes.
        header: The exact header line bytes (identity check on reuse).
        state_id: The exact state id from the header.
        base: Number before the first stored version.
        starts: Byte offset of the line of version ``base + 1 + i``.
        committed_end: Offset after the last committed line.
        ids: Version id -> number.
        checkpoints: Numbers of the lines that carry a checkpoint, ascending.
        mark: The first bytes of the last committed line (it holds the
            version's unique id): if they change, the log was rolled back and
            written again in place, and the index is rebuilt.
    """

    dev: int
    ino: int
    header: bytes
    state_id: str
    base: int
    starts: array[int] = field(default_factory=lambda: array("q"))
    committed_end: int = 0
    ids: dict[str, int] = field(default_factory=dict)
    checkpoints: list[int] = field(default_factory=list)
    mark: bytes = b""

    @property
    def head(self) -> int:
        """Number of the last committed version (``base`` if none stored)."""
        return self.base + len(self.starts)

    def span(self, number: int) -> tuple[int, int]:
        """Return ``(start, end)`` byte offsets of version ``number``'s line."""
        i = number - self.base - 1
        end = self.starts[i + 1] if i + 1 < len(self.starts) else self.committed_end
        return self.starts[i], end

    def latest_checkpoint(self, at_most: int | None = None) -> int | None:
        """Return the newest number <= ``at_most`` whose line carries a checkpoint."""
        for number in reversed(self.checkpoints):
            if at_most is None or number <= at_most:
                return number
        return None

    def add_committed(
        self, start: int, lines: list[tuple[int, str, bool, int]], last_line: bytes
    ) -> None:
        """Record lines this process just appended: ``(number, id, has_cp, length)``."""
        offset = start
        for number, version_id, has_cp, length in lines:
            self.starts.append(offset)
            self.ids[version_id] = number
            if has_cp:
                self.checkpoints.append(number)
            offset += length
        self.mark = last_line[:MARK_BYTES]
        self.committed_end = offset


def parse_line(raw: bytes, path: Path, line_no: int) -> dict[str, Any]:
    """Parse one committed version line (raises CorruptDataError)."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CorruptDataError(
            f"{path} line {line_no}", f"not JSON: {exc}", backend=BACKEND
        ) from exc
    if not isinstance(data, dict):
        raise CorruptDataError(f"{path} line {line_no}", "not a JSON object", backend=BACKEND)
    data.pop("batch_end", None)
    return data


def _read_header(fd: int, size: int, path: Path) -> tuple[bytes, dict[str, Any]]:
    chunk = pread(fd, min(size, 1 << 16), 0)
    end = chunk.find(b"\n")
    if end < 0 and size > len(chunk):  # a header longer than 64 KiB: read it all
        chunk = pread(fd, size, 0)
        end = chunk.find(b"\n")
    if end < 0:
        raise CorruptDataError(
            f"{path} line 1", "missing or incomplete log header", backend=BACKEND
        )
    raw = chunk[: end + 1]
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise CorruptDataError(
            f"{path} line 1", f"log header is not JSON: {exc}", backend=BACKEND
        ) from exc
    if (
        not isinstance(header, dict)
        or header.get("kind") != "log"
        or not isinstance(header.get("state_id"), str)
        or not isinstance(header.get("base"), int)
        or header["base"] < 0
    ):
        raise CorruptDataError(f"{path} line 1", "not a version-log header", backend=BACKEND)
    if header.get("format", FORMAT) != FORMAT:
        raise CorruptDataError(
            f"{path} line 1", f"unsupported format {header.get('format')!r}", backend=BACKEND
        )
    return raw, header


def scan_log(fd: int, path: Path, cached: LogIndex | None) -> tuple[LogIndex, int]:
    """Bring an index up to date with the open log ``fd``.

    Reuses ``cached`` when it describes the same file (device, inode, header)
    and the file has not shrunk below its committed end: then only the new
    bytes are parsed. The returned index may be ``cached`` itself, extended.

    Returns:
        ``(index, size)``: the index and the file size seen; ``size >
        index.committed_end`` means a torn or still-being-written tail.

    Raises:
        CorruptDataError: A bad header, a bad line followed by more data, or
            a version number out of sequence (names the file and line).
    """
    try:
        st = os.fstat(fd)
        size = st.st_size
        index = cached
        if (
            index is None
            or index.dev != st.st_dev
            or index.ino != st.st_ino
            or size < index.committed_end
            or pread(fd, len(index.header), 0) != index.header
            or (index.starts and pread(fd, len(index.mark), index.starts[-1]) != index.mark)
        ):
            raw, header = _read_header(fd, size, path)
            index = LogIndex(
                st.st_dev,
                st.st_ino,
                raw,
                header["state_id"],
                header["base"],
                committed_end=len(raw),
            )
        if size > index.committed_end:
            tail = pread(fd, size - index.committed_end, index.committed_end)
            _parse_tail(index, tail, path)
    except OSError as exc:
        raise storage_error(exc, "read", path) from exc
    return index, size


def _parse_tail(index: LogIndex, tail: bytes, path: Path) -> None:
    """Parse complete lines of ``tail`` (bytes after ``committed_end``) into ``index``."""
    pos = 0
    origin = index.committed_end  # tail[0] is at this file offset
    pending: list[tuple[int, int, str, bool]] = []  # (start, number, id, has_cp) of an open batch
    pending_end = 0
    next_number = index.head + 1
    line_no = 2 + len(index.starts)  # 1-based; line 1 is the header
    while pos < len(tail):
        nl = tail.find(b"\n", pos)
        if nl < 0:
            return  # incomplete last line: torn (or being written)
        raw = tail[pos:nl]
        problem = ""
        data: Any = None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            problem = f"not JSON: {exc}"
        if not problem:
            problem = _check_line(data, next_number, index.state_id, pending_end)
        if problem:
            if tail.find(b"\n", nl + 1) >= 0:  # complete data follows: damage, not a torn write
                raise CorruptDataError(f"{path} line {line_no}", problem, backend=BACKEND)
            return  # an unparseable last line: torn
        assert isinstance(data, dict)
        start = origin + pos
        entry = (start, next_number, data["id"], "checkpoint" in data)
        batch_end = data.get("batch_end")
        if batch_end is not None and batch_end != next_number:
            pending.append(entry)
            pending_end = batch_end
        else:
            for p_start, number, version_id, has_cp in [*pending, entry]:
                index.starts.append(p_start)
                index.ids[version_id] = number
                if has_cp:
                    index.checkpoints.append(number)
            pending.clear()
            pending_end = 0
            index.mark = tail[pos : min(nl + 1, pos + MARK_BYTES)]
            index.committed_end = origin + nl + 1
        next_number += 1
        line_no += 1
        pos = nl + 1


def _check_line(data: Any, expected: int, state_id: str, pending_end: int) -> str:
    if not isinstance(data, dict):
        return "not a JSON object"
    number = data.get("number")
    if (
        data.get("kind", "version") != "version"
        or not isinstance(number, int)
        or isinstance(number, bool)
    ):
        return "not a version line"
    if number != expected:
        return f"version {number} out of sequence (expected {expected})"
    if not isinstance(data.get("id"), str):
        return "version id missing"
    if data.get("state_id") != state_id:
        return f"version of state {data.get('state_id')!r} in the log of {state_id!r}"
    batch_end = data.get("batch_end")
    if batch_end is not None and (not isinstance(batch_end, int) or batch_end < number):
        return f"bad batch_end {batch_end!r}"
    if pending_end and batch_end != pending_end:
        return f"batch ending at {pending_end} interrupted"
    return ""


class LogCache:
    """Thread-safe LRU map of log path -> :class:`LogIndex`.

    Bounded by the number of logs and by the versions they index in total
    (each costs its offset and an id-map entry, ~150 bytes); the log just
    used is always kept.
    """

    def __init__(self, max_logs: int = 4096, max_versions: int = 250_000) -> None:
        self._max_logs = max_logs
        self._max_versions = max_versions
        self._lock = threading.Lock()
        self._items: OrderedDict[str, LogIndex] = OrderedDict()
        self._weights: dict[str, int] = {}  # versions indexed per log, as of its last refresh
        self._total = 0

    def refresh(self, fd: int, path: Path) -> tuple[LogIndex, int, int]:
        """Return the up-to-date index of the open log ``fd`` (see :func:`scan_log`).

        Returns:
            ``(index, size, head)``. ``head`` is taken under the lock: the
            index may grow meanwhile (other threads), and every number up to
            this head stays readable through it.
        """
        key = str(path)
        with self._lock:
            # Scanning under the lock keeps concurrent readers from extending one index twice.
            index, size = scan_log(fd, path, self._items.get(key))
            self._items[key] = index
            self._items.move_to_end(key)
            weight = len(index.starts)
            self._total += weight - self._weights.get(key, 0)
            self._weights[key] = weight
            while len(self._items) > 1 and (
                len(self._items) > self._max_logs or self._total > self._max_versions
            ):
                oldest, _index = self._items.popitem(last=False)
                self._total -= self._weights.pop(oldest, 0)
            return index, size, index.head

    def note_append(
        self,
        path: Path,
        index: LogIndex,
        start: int,
        lines: list[tuple[int, str, bool, int]],
        last_line: bytes,
    ) -> None:
        """Record lines a writer appended at ``start``, unless a reader parsed them already.

        Saves re-parsing our own lines (a checkpoint line is a whole state).
        """
        with self._lock:
            if self._items.get(str(path)) is index and index.committed_end == start:
                index.add_committed(start, lines, last_line)

    def drop(self, path: Path) -> None:
        """Forget the index of ``path``."""
        with self._lock:
            self._items.pop(str(path), None)
            self._total -= self._weights.pop(str(path), 0)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._weights.clear()
            self._total = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
