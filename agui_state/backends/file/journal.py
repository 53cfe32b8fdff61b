"""The undo journal that makes a batch spanning several files all-or-none.

Most writes touch one file and need no journal (an append, or one atomic
rename). A batch that touches several files of *existing* states (two states,
or a version plus a snapshot...) is written like this, holding every stripe
lock of its states:

1. **Record.** ``journal/<txid>.undo.json`` lists how to undo each change:
   ``truncate`` a log back to its old size, ``unlink`` a file the batch
   creates, ``restore`` a file the batch replaces from a hard link of its old
   content (``journal/<txid>.<k>.old``, made after the record is durable and
   before the file is touched). Record and links are fsynced.
2. **Apply** every change (each one atomic and fsynced on its own).
3. **Commit:** remove the record and fsync ``journal/``. This is the one
   commit point: before it, a crash (or an error) rolls the batch back;
   after it, the batch stands. Old contents are dropped only after it (the
   saved links become the ``.bak`` generations of replaced checkpoints).

A record left by a crashed process is rolled back by the next writer that
locks one of its states, and by every :class:`FileBackend` when it opens.
Rolling back is idempotent (a crash during rollback is rolled back again).
A writer holding a stripe lock knows that a record naming one of its states
is orphaned: a live batch holds its locks until its record is gone.

Rejected: a redo log (the new content written twice, and an error after the
commit point could not honour "``StorageError``: nothing was written").
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from agui_state.backends.file.io import Counters, FileIO, dumps_line, path_exists, storage_error
from agui_state.errors import CorruptDataError
from agui_state.models import FORMAT

__all__ = ["Journal", "Record"]

logger = logging.getLogger("agui_state.backends.file")

_SUFFIX = ".undo.json"
_STALE_TMP_SECONDS = 3600.0


@dataclass
class Record:
    """One pending batch: its states and undo operations."""

    path: Path
    txid: str
    states: list[str]
    ops: list[dict[str, Any]]


class Journal:
    """The ``journal/`` folder of one base folder."""

    def __init__(self, base: Path, io: FileIO, counters: Counters) -> None:
        self.base = base
        self.dir = base / "journal"
        self._io = io
        self._counters = counters

    # ------------------------------------------------------------------ paths
    def _rel(self, path: Path) -> str:
        return path.relative_to(self.base).as_posix()

    def _abs(self, rel: Any, record: Path) -> Path:
        """Resolve a path from a record, refusing anything outside the base folder."""
        pure = PurePosixPath(rel) if isinstance(rel, str) else None
        if pure is None or pure.is_absolute() or not pure.parts or ".." in pure.parts:
            raise CorruptDataError(
                str(record), f"unsafe path {rel!r} in undo record", backend="file"
            )
        return self.base.joinpath(*pure.parts)

    # ---------------------------------------------------------------- reading
    def has_records(self) -> bool:
        """Return whether any undo record is present (one folder read)."""
        try:
            with os.scandir(self.dir) as entries:
                return any(e.name.endswith(_SUFFIX) and not e.name.startswith(".") for e in entries)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise storage_error(exc, "list", self.dir) from exc

    def records(self) -> list[Record]:
        """Return the pending records; an unreadable one is quarantined with an error log."""
        out: list[Record] = []
        try:
            names = sorted(
                n for n in os.listdir(self.dir) if n.endswith(_SUFFIX) and not n.startswith(".")
            )
        except FileNotFoundError:
            return out
        except OSError as exc:
            raise storage_error(exc, "list", self.dir) from exc
        for name in names:
            path = self.dir / name
            raw = self._io.read_bytes(path)
            if raw is None:
                continue  # finished meanwhile
            try:
                data = json.loads(raw)
                states = data["states"]
                ops = data["ops"]
                if not isinstance(states, list) or not all(isinstance(s, str) for s in states):
                    raise ValueError("bad states")
                if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
                    raise ValueError("bad ops")
                out.append(Record(path, str(data["txid"]), states, ops))
            except (ValueError, KeyError, TypeError) as exc:
                # Records are written atomically, so this is damage, not a torn write.
                # Quarantine it so that writers are not blocked forever; it is kept for inspection.
                logger.error(
                    "undo record %s is unreadable (%s); moved aside, its batch cannot be "
                    "rolled back automatically",
                    path,
                    exc,
                )
                self._counters.add("journal_records_quarantined")
                try:
                    os.replace(path, path.with_name(name + ".corrupt"))
                except OSError as move_exc:
                    raise storage_error(move_exc, "quarantine", path) from move_exc
        return out

    # ---------------------------------------------------------------- writing
    def begin(self, states: list[str], ops: list[dict[str, Any]]) -> Record:
        """Make the undo record (and saved copies) durable before anything changes.

        ``ops`` use absolute ``Path`` values under ``path``/``saved`` keys;
        ``restore`` ops get their ``saved`` name here.
        """
        self._io.makedirs(self.dir)
        txid = f"{int(time.time() * 1000):013d}-{os.getpid()}-{secrets.token_hex(4)}"
        stored: list[dict[str, Any]] = []
        links: list[tuple[Path, Path]] = []
        for k, op in enumerate(ops):
            entry = {key: (self._rel(v) if isinstance(v, Path) else v) for key, v in op.items()}
            if op["op"] == "restore":
                saved = self.dir / f"{txid}.{k}.old"
                links.append((op["path"], saved))
                entry["saved"] = self._rel(saved)
            stored.append(entry)
        path = self.dir / f"{txid}{_SUFFIX}"
        body = {
            "format": FORMAT,
            "kind": "undo",
            "txid": txid,
            "pid": os.getpid(),
            "states": states,
            "ops": stored,
        }
        self._io.write_atomic(path, dumps_line(body, "undo record"))
        for target, saved in links:
            try:
                os.link(target, saved)
            except FileNotFoundError:
                continue  # nothing to keep: rollback then leaves the target alone
            except OSError:  # no hard links on this file system: copy
                content = self._io.read_bytes(target)
                if content is not None:
                    self._io.write_atomic(saved, content)
        if links:
            self._io.sync_dir(self.dir)
        self._counters.add("journal_batches")
        return Record(path, txid, states, stored)

    def commit(self, record: Record) -> None:
        """The commit point: remove the record durably."""
        self._io.unlink(record.path)
        self._io.sync_dir(self.dir)

    def saved_path(self, record: Record, op: dict[str, Any]) -> Path:
        """Return the absolute path of a restore op's saved copy."""
        return self._abs(op["saved"], record.path)

    def rollback(self, record: Record) -> None:
        """Undo a batch (idempotent), then drop its record."""
        folders: set[Path] = set()
        for op in reversed(record.ops):
            target = self._abs(op.get("path"), record.path)
            kind = op.get("op")
            if kind == "truncate":
                size = op.get("size")
                if not isinstance(size, int) or size < 0:
                    raise CorruptDataError(str(record.path), f"bad size in {op!r}", backend="file")
                self._io.truncate(target, size)
            elif kind == "unlink":
                if self._io.unlink(target):
                    folders.add(target.parent)
            elif kind == "restore":
                saved = self._abs(op.get("saved"), record.path)
                if path_exists(saved):
                    try:
                        os.replace(saved, target)
                    except OSError as exc:
                        raise storage_error(exc, "restore", target) from exc
                    folders.add(target.parent)
            else:
                raise CorruptDataError(
                    str(record.path), f"unknown undo op {kind!r}", backend="file"
                )
        for folder in folders:
            if path_exists(folder, folder=True):
                self._io.sync_dir(folder)
        self._io.unlink(record.path)
        self._io.sync_dir(self.dir)
        self._drop_saved(record.txid)
        self._counters.add("journal_rollbacks")

    def _drop_saved(self, txid: str) -> None:
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        for name in names:
            if name.startswith(f"{txid}.") and name.endswith(".old"):
                self._io.unlink(self.dir / name)

    def cleanup(self) -> None:
        """Remove leftovers: saved copies of finished batches, stale temp files."""
        try:
            entries = list(os.scandir(self.dir))
        except OSError:
            return
        pending = {e.name[: -len(_SUFFIX)] for e in entries if e.name.endswith(_SUFFIX)}
        now = time.time()
        for entry in entries:
            name = entry.name
            try:
                finished = name.endswith(".old") and name.split(".", 1)[0] not in pending
                stale = name.endswith(".tmp") and now - entry.stat().st_ctime > _STALE_TMP_SECONDS
                if finished or stale:
                    os.unlink(entry.path)
            except OSError:
                continue  # best effort: removed meanwhile or not ours to remove
