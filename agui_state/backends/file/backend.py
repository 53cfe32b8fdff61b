"""The file backend (``file:///path``): the embedded default.

Layout under ``base_dir`` (``shard_N/`` levels only with ``enable_sharding``;
the shard is a stable BLAKE2b hash of the state id, see ``names``)::

    agui-state.json                       layout marker (sharding, shard count)
    index/state-ids.jsonl                 ids of all states, for list_states (``index``)
    versions/shard_3/<name>.log           the state's version log: source of truth (``log``)
    states/shard_3/<name>.json            the latest checkpoint file
    states/shard_3/<name>.json.bak.1..N   rotated backups of it
    origins/shard_3/<name>.json           the state at version 0, when set_state gave
                                          one (absent: ``{}``)
    snapshots/shard_3/<name>/<snap>.json  one file per snapshot
    journal/                              undo records of multi-file batches (``journal``)
    locks/stripe-NNNN.lock                writer locks (``locks``)

``<name>`` is the encoded id (readable prefix + hash): no id can name a path
outside ``base_dir``, and the exact id is stored inside the files. Every file
is human-readable JSON (lines).

What is true on disk: a state exists iff its log exists. Its head is the
number of the log's last committed line (or the header's ``base`` after a
prune). Its latest checkpoint is the newer of the checkpoint file and the
newest log line carrying one (``store``). The checkpoint file is written
before the log is created, so every existing state has one; a damaged one is
replaced by its newest good backup, with a warning. Its origin (the state at
version 0) is its origin file, written only by a ``set_state`` at head 0 (in
the same commit as the checkpoint file) and never rewritten afterwards; no
origin file means ``{}``.

Writes: ``write`` gives each kind of batch one commit point. A
synchronous update is one appended JSON line and one ``fdatasync``, however
large the state. Readers take no lock; writers hold the stripe locks of their
states, check heads with ``HeadTracker`` under them, and first roll back any
batch that a crashed process left half-done.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agui_state.backends.base import (
    Checkpoint,
    HeadTracker,
    StorageBackend,
    Write,
    validate_state_id,
)
from agui_state.backends.file.index import StateIndex
from agui_state.backends.file.io import Counters, FileIO, dumps_line, storage_error
from agui_state.backends.file.journal import Journal
from agui_state.backends.file.locks import LockManager
from agui_state.backends.file.names import lock_stripe
from agui_state.backends.file.store import StateFiles
from agui_state.backends.file.write import checkpoint_bytes, commit, plan_batch
from agui_state.config import StorageConfig
from agui_state.errors import (
    BackendUnavailableError,
    CorruptDataError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from agui_state.models import FORMAT, State, StateSnapshot, StateVersion, replay

__all__ = ["FileBackend"]

logger = logging.getLogger(__name__)

_ALWAYS_COUNTED = (
    "writes",
    "fsyncs",
    "bytes_written",
    "recovered_torn_tails",
    "corrupt_files_recovered",
    "journal_batches",
    "journal_rollbacks",
)


class FileBackend(StorageBackend):
    """A backend that keeps states in a folder of JSON files (``file://``).

    Args:
        config: Its ``file_options`` give the folder and options. Default:
            ``./agui-state-data`` with the :class:`~agui_state.config.FileOptions` defaults.

    Raises:
        ConfigError: A configuration field is invalid.
        BackendUnavailableError: The folder cannot be created or opened.
    """

    backend_type = "file"

    def __init__(self, config: StorageConfig | None = None) -> None:
        config = config or StorageConfig(type="file")
        config.validate()
        super().__init__(config)
        fo = config.file_options
        base = Path(os.path.expanduser(str(fo.base_dir))).absolute()
        self._counters = Counters()
        self._io = FileIO(file_mode=fo.file_mode, fsync=fo.fsync, counters=self._counters)
        try:
            for sub in ("states", "origins", "versions", "snapshots", "journal", "locks", "index"):
                self._io.makedirs(base / sub)
            sharding, shards = self._load_layout(base, bool(fo.enable_sharding), fo.shard_count)
        except StorageError as exc:
            raise BackendUnavailableError(
                f"base folder {str(base)!r} is not usable: {exc.__cause__ or exc}", backend="file"
            ) from exc
        self._base = base
        self._locks = LockManager(base / "locks", self._io, config.write_timeout)
        self._files = StateFiles(
            base,
            sharding=sharding,
            shards=shards,
            backups=fo.backup_count if fo.enable_backups else 0,
            io=self._io,
            counters=self._counters,
            locks=self._locks,
        )
        self._journal = Journal(base, self._io, self._counters)
        self._index = StateIndex(
            base / "index" / "state-ids.jsonl",
            self._io,
            self._locks,
            self._counters,
            self._files.scan_log_ids,
        )
        self._recover()

    def _load_layout(self, base: Path, sharding: bool, shards: int) -> tuple[bool, int]:
        """Return the sharding the folder was created with (a mismatch would hide every state)."""
        marker = base / "agui-state.json"
        raw = self._io.read_bytes(marker)
        if raw is None:
            body = {"format": FORMAT, "kind": "layout", "sharding": sharding, "shard_count": shards}
            self._io.write_atomic(marker, dumps_line(body, "layout"))
            return sharding, shards
        try:
            layout = json.loads(raw)
            found = (bool(layout["sharding"]), int(layout["shard_count"]))
        except (ValueError, KeyError, TypeError) as exc:
            reason = f"unreadable layout marker: {exc}"
            raise CorruptDataError(str(marker), reason, backend="file") from exc
        if found != (sharding, shards):
            logger.warning(
                "%s was created with enable_sharding=%s, shard_count=%d; using that layout "
                "instead of the configured one", base, found[0], found[1],
            )  # fmt: skip
        return found

    def _recover(self) -> None:
        """Roll back batches that crashed processes left half-done."""
        for record in self._journal.records():
            try:
                with self._hold(record.states):
                    pass  # _hold rolls back every pending record of these states
            except StorageError as exc:
                logger.warning("could not roll back interrupted batch %s yet: %s", record.txid, exc)
        self._journal.cleanup()

    def _check(self) -> None:
        if self._closed:
            raise StorageError("backend is closed", backend=self.backend_type)

    @contextmanager
    def _hold(self, state_ids: Sequence[str]) -> Iterator[None]:
        """Hold the writer locks of ``state_ids``, after rolling back orphaned batches.

        A record naming one of our states while we hold its lock is orphaned
        (a live batch keeps its locks until its record is gone). If it also
        names other states, we retake the locks of the union, in order.
        """
        wanted = set(state_ids)
        for _ in range(16):
            with self._locks.hold(lock_stripe(sid) for sid in wanted):
                if not self._journal.has_records():
                    yield
                    return
                records = [r for r in self._journal.records() if wanted.intersection(r.states)]
                extra = {sid for r in records for sid in r.states} - wanted
                if not extra:
                    for record in records:
                        logger.warning(
                            "rolling back batch %s of states %s, left half-done by a crashed "
                            "writer", record.txid, record.states,
                        )  # fmt: skip
                        self._journal.rollback(record)
                        for sid in record.states:
                            self._files.logs.drop(self._files.log_path(sid))
                    yield
                    return
            wanted |= extra
        raise StorageError(f"could not settle the batches in {self._journal.dir}", backend="file")

    # ------------------------------------------------------------------ writes
    def write_batch(self, writes: Sequence[Write]) -> None:
        self._check()
        writes = list(writes)
        for write in writes:
            if not isinstance(write, Write):
                raise ValidationError("writes", f"expected Write items, got {type(write).__name__}")
            validate_state_id(write.state_id)
        if not writes:
            return
        state_ids = sorted({w.state_id for w in writes})
        with self._hold(state_ids):
            views = {sid: self._files.writer_view(sid) for sid in state_ids}
            tracker = HeadTracker()
            for write in writes:
                index = views[write.state_id][0]
                tracker.check(write, index.head if index is not None else None)
            commit(self._files, self._journal, self._index, plan_batch(writes, views))
        self._counters.add("writes", len(writes))

    def delete_state(self, state_id: str) -> None:
        self._check()
        validate_state_id(state_id)
        with self._hold([state_id]):
            path = self._files.log_path(state_id)
            if not self._io.unlink(path):
                raise NotFoundError("state", state_id)
            self._io.sync_dir(path.parent)  # the commit point: without its log the state is gone
            self._files.logs.drop(path)
            try:
                self._files.remove_leftovers(state_id)
                self._index.remove(state_id, self._files.exists)
            except StorageError as exc:
                logger.warning(
                    "state %r deleted; some of its files remain (%s): they are invisible and "
                    "removed when the id is reused", state_id, exc,
                )  # fmt: skip
        self._counters.add("writes")

    # ----------------------------------------------------------- prune hooks
    def prune_history(self, state_id: str, keep_last: int) -> int:
        self._check()
        validate_state_id(state_id)
        with self._hold([state_id]):  # the base class's steps must not interleave with writers
            return super().prune_history(state_id, keep_last)

    def replace_version(self, state_id: str, version: StateVersion) -> None:
        with self._hold([state_id]):
            index, lines = self._files.committed_lines(state_id)
            i = version.number - index.base - 1
            if not 0 <= i < len(lines):
                raise NotFoundError("version", state_id, version.number)
            data: dict[str, Any] = version.to_dict()
            batch_end = json.loads(lines[i]).get("batch_end")
            if batch_end is not None:
                data["batch_end"] = batch_end  # keep the line's batch intact
            lines[i] = dumps_line(data, f"version {version.number} of state {state_id!r}")
            self._files.rewrite_log(state_id, index.base, lines)

    def store_checkpoint(self, state_id: str, checkpoint: Checkpoint) -> None:
        with self._hold([state_id]):
            data = checkpoint_bytes(state_id, checkpoint)
            self._io.write_atomic(self._files.cp_path(state_id), data, backups=self._files.backups)

    def delete_versions_before(self, state_id: str, number: int) -> int:
        with self._hold([state_id]):
            index, lines = self._files.committed_lines(state_id)
            new_base = min(number - 1, index.head)
            count = new_base - index.base
            if count <= 0:
                return 0
            # After the cut the checkpoint file must lie within base..head (replaying from
            # an older one would need the cut versions), so move it forward when the file is
            # older than the new base or a newer checkpoint lives only on a log line.
            with self._files.log(state_id) as lg:
                assert lg is not None
                cp, from_file = self._files.checkpoint(state_id, lg)
                if not from_file or cp.version < new_base:
                    target = max(cp.version, new_base)
                    tail = self._files.versions(lg, cp.version + 1, target)
                    state = replay(cp.state, tail, state_id)
                    self.store_checkpoint(state_id, Checkpoint(target, state))
            self._files.rewrite_log(state_id, new_base, lines[count:])
            return count

    # ------------------------------------------------------------------ reads
    def read_head(self, state_id: str) -> int | None:
        self._check()
        with self._files.log(state_id) as lg:
            return None if lg is None else lg.head

    def read_checkpoint(self, state_id: str) -> Checkpoint | None:
        self._check()
        with self._files.log(state_id) as lg:
            if lg is None:
                return None
            try:
                return self._files.checkpoint(state_id, lg)[0]
            except NotFoundError:
                return None

    def read_origin(self, state_id: str) -> State:
        self._check()
        with self._files.log(state_id) as lg:
            return {} if lg is None else self._files.origin(state_id)

    def get_state(self, state_id: str) -> State:
        # Same result as the base class, but checkpoint and versions come through
        # one open log, so a concurrent prune cannot pair them wrongly.
        self._check()
        validate_state_id(state_id)
        with self._files.log(state_id) as lg:
            if lg is None:
                raise NotFoundError("state", state_id)
            cp = self._files.checkpoint(state_id, lg)[0]
            tail = self._files.versions(lg, cp.version + 1, lg.head)
        return replay(cp.state, tail, state_id)

    def get_versions(
        self, state_id: str, after: int = 0, limit: int | None = None
    ) -> list[StateVersion]:
        self._check()
        validate_state_id(state_id)
        with self._files.log(state_id) as lg:
            if lg is None:
                return []
            numbers = range(max(after + 1, lg.index.base + 1), lg.head + 1)
            if limit is not None:
                numbers = numbers[:limit]
            if not numbers:
                return []
            return self._files.versions(lg, numbers[0], numbers[-1])

    def get_version_history(
        self, state_id: str, limit: int = 50, before: int | None = None
    ) -> list[StateVersion]:
        self._check()
        validate_state_id(state_id)
        with self._files.log(state_id) as lg:
            if lg is None:
                raise NotFoundError("state", state_id)
            top = lg.head if before is None else min(lg.head, before - 1)
            numbers = range(top, lg.index.base, -1)[: max(limit, 0)]
            if not numbers:
                return []
            return list(reversed(self._files.versions(lg, numbers[-1], numbers[0])))

    def read_version(
        self, state_id: str, number: int | None, version_id: str | None
    ) -> StateVersion | None:
        self._check()
        with self._files.log(state_id) as lg:
            if lg is None:
                return None
            if number is None:
                number = lg.index.ids.get(version_id or "")
                if number is None:
                    return None
            if not lg.index.base < number <= lg.head:
                return None
            return self._files.versions(lg, number, number)[0]

    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        self._check()
        validate_state_id(state_id)
        snap = None
        if isinstance(snapshot_id, str) and self._files.exists(state_id):
            path = self._files.snap_path(state_id, snapshot_id)
            snap = self._files.load_snapshot(path, state_id)
        if snap is None or snap.id != snapshot_id:
            raise NotFoundError("snapshot", state_id, snapshot_id)
        return snap

    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        self._check()
        validate_state_id(state_id)
        if not self._files.exists(state_id):
            return []  # leftovers of a deleted state are not shown
        snaps = self._files.snapshots(state_id)
        return sorted(snaps, key=lambda s: (s.version, s.timestamp, s.id))

    def list_states(
        self, prefix: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[str]:
        self._check()
        return self._index.page(prefix, limit, after, self._files.exists)

    # ------------------------------------------------------------ housekeeping
    def ping(self) -> None:
        self._check()
        probe = self._base / f".ping-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self._io.file_mode)
            try:
                os.write(fd, b"ping")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            reason = storage_error(exc, "write", probe)
            raise BackendUnavailableError(
                f"base folder {str(self._base)!r} is not writable: {reason}", backend="file"
            ) from exc

    def stats(self) -> dict[str, Any]:
        """Figures about the folder and this instance's activity.

        ``files``/``bytes_on_disk`` walk the folder (cost grows with the
        number of files); counters (``writes``, ``fsyncs``,
        ``recovered_torn_tails``...) are this instance's since it opened.
        """
        files = size = 0
        for folder, _dirs, names in os.walk(self._base):
            for name in names:
                try:
                    size += os.stat(os.path.join(folder, name)).st_size
                    files += 1
                except OSError:
                    continue  # removed meanwhile
        out: dict[str, Any] = {
            "backend_type": self.backend_type,
            "url": self.config.redacted_url,
            "base_dir": str(self._base),
            "states": None if self._closed else self._index.count(),
            "files": files,
            "bytes_on_disk": size,
            "sharding": self._files.sharding,
            "shard_count": self._files.shards if self._files.sharding else None,
            "fsync": self._io.fsync_enabled,
            "backup_count": self._files.backups,
            "cached_logs": len(self._files.logs),
            "closed": self._closed,
        }
        counters = self._counters.snapshot()
        for name in _ALWAYS_COUNTED:
            out[name] = counters.pop(name, 0)
        out.update(counters)
        return out

    def close(self) -> None:
        super().close()
        self._files.logs.clear()
