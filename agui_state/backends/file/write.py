"""How the file backend commits a checked batch: one commit point per write.

:func:`plan_batch` turns a batch (already checked with ``HeadTracker`` under
the stripe locks) into one :class:`Plan` per state, serializing everything
first so that a value that is not JSON fails before any byte is written.
:func:`commit` then picks the cheapest way that is still all-or-none:

==========================================  =====================================
batch (per state)                           commit point
==========================================  =====================================
versions of an existing state (hot path)    ``fdatasync`` of one log append
                                            (several versions: one ``write``, the
                                            lines tied by ``batch_end``)
``set_state`` of an existing state          rename of the new checkpoint file
(head > 0)
one snapshot of an existing state           rename of the snapshot file
anything creating one state                 rename of the new log: checkpoint and
                                            snapshots are written first, invisible
                                            while the log does not exist
anything else (several states, mixed, or    removal of the undo record (``journal``)
``set_state`` of an existing state at
head 0: origin and checkpoint files)
==========================================  =====================================

A ``set_state`` at head 0 also writes the state's origin file (its state at
version 0, which later checkpoints do not replace). A state created with
``{}`` (or by version 1) gets none: no file means ``{}``, and creation first
removes any leftover of a deleted incarnation. Version appends never touch it.

After an append that carries a checkpoint, the checkpoint file is refreshed
too, but that is an optimization after the commit (readers take the newer of
the checkpoint file and the newest checkpoint line), so its failure is only
logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agui_state.backends.base import Checkpoint, Write
from agui_state.backends.file.io import dumps_line, path_exists
from agui_state.backends.file.log import LogIndex, make_header
from agui_state.errors import StorageError
from agui_state.models import FORMAT, State, StateSnapshot, StateVersion

if TYPE_CHECKING:
    from agui_state.backends.file.index import StateIndex
    from agui_state.backends.file.journal import Journal
    from agui_state.backends.file.store import StateFiles

__all__ = ["Plan", "checkpoint_bytes", "commit", "origin_bytes", "plan_batch"]

logger = logging.getLogger("agui_state.backends.file")


@dataclass
class Plan:
    """What one batch does to one state."""

    state_id: str
    index: LogIndex | None  # None: the batch creates the state
    size: int  # log size seen under the lock (> index.committed_end: torn tail)
    head: int | None
    versions: list[StateVersion] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    checkpoint_from_state: bool = False
    origin: State | None = None  # set by a state write at head 0
    snapshots: dict[str, StateSnapshot] = field(default_factory=dict)
    lines: list[bytes] = field(default_factory=list)
    checkpoint_data: bytes = b""
    origin_data: bytes = b""  # b"": no origin file to write
    snapshot_data: dict[str, bytes] = field(default_factory=dict)

    @property
    def torn(self) -> bool:
        """Whether the log has a torn tail to cut before appending."""
        return self.index is not None and self.size > self.index.committed_end


def _with_field(line: bytes, key: str, value_json: bytes) -> bytes:
    """Add ``"key": value`` (already serialized) as the last field of a JSON object line.

    Lets a full state be serialized once and spliced into both the log line
    and the checkpoint file: at 1 MB, each ``json.dumps`` costs ~10 ms.
    """
    assert line.endswith(b"}\n") and key.isidentifier()
    return b"".join((line[:-2], b', "', key.encode("ascii"), b'": ', value_json, b"}\n"))


def state_json(state: State, what: str) -> bytes:
    """Serialize a full state once (no newline), for :func:`checkpoint_bytes` and log lines."""
    return dumps_line(state, what)[:-1]


def checkpoint_bytes(
    state_id: str, checkpoint: Checkpoint, serialized: bytes | None = None
) -> bytes:
    """Serialize a checkpoint file (``serialized``: the state's JSON, when already known)."""
    body = {
        "format": FORMAT,
        "kind": "checkpoint",
        "state_id": state_id,
        "version": checkpoint.version,
    }
    if serialized is None:
        serialized = state_json(checkpoint.state, f"state of {state_id!r}")
    return _with_field(dumps_line(body, f"state of {state_id!r}"), "state", serialized)


def origin_bytes(state_id: str, serialized: bytes) -> bytes:
    """Serialize an origin file (``serialized``: the state's JSON)."""
    body = {"format": FORMAT, "kind": "origin", "state_id": state_id}
    return _with_field(dumps_line(body, f"origin of {state_id!r}"), "state", serialized)


def _version_line(
    version: StateVersion, state_id: str, batch_end: int | None
) -> tuple[bytes, bytes]:
    """One log line, and the checkpoint's JSON (``b""`` when the version carries none)."""
    what = f"version {version.number} of state {state_id!r}"
    carried = version.checkpoint
    data: dict[str, Any] = (version if carried is None else version.without_checkpoint()).to_dict()
    if batch_end is not None:
        data["batch_end"] = batch_end
    line = dumps_line(data, what)
    if carried is None:
        return line, b""
    cp = state_json(carried, f"{what}: checkpoint")
    return _with_field(line, "checkpoint", cp), cp


def plan_batch(
    writes: Sequence[Write], views: dict[str, tuple[LogIndex | None, int]]
) -> list[Plan]:
    """Group a checked batch per state and serialize it (ValidationError on non-JSON)."""
    plans: dict[str, Plan] = {}
    for write in writes:
        sid = write.state_id
        plan = plans.get(sid)
        if plan is None:
            index, size = views[sid]
            plan = plans[sid] = Plan(sid, index, size, index.head if index else None)
        if write.kind == "version":
            assert write.version is not None
            plan.versions.append(write.version)
            plan.head = write.version.number
            if write.version.checkpoint is not None:
                plan.checkpoint = Checkpoint(write.version.number, write.version.checkpoint)
                plan.checkpoint_from_state = False
        elif write.kind == "state":
            assert write.state is not None
            plan.head = plan.head or 0
            plan.checkpoint = Checkpoint(plan.head, write.state)
            plan.checkpoint_from_state = True
            if plan.head == 0:
                plan.origin = write.state
        else:
            assert write.snapshot is not None
            plan.snapshots[write.snapshot.id] = write.snapshot
    for plan in plans.values():
        last = plan.versions[-1].number if plan.versions else 0
        batch_end = last if len(plan.versions) > 1 else None
        cp_json = b""  # JSON of the newest checkpoint carried by a version
        for version in plan.versions:
            line, cp = _version_line(version, plan.state_id, batch_end)
            plan.lines.append(line)
            if cp:
                cp_json = cp
        if plan.checkpoint is None and plan.index is None:
            plan.checkpoint = Checkpoint(0, {})  # a state created by version 1 starts from {}
        origin_json = b""
        if plan.origin is not None and (plan.origin or plan.index is not None):
            origin_json = state_json(plan.origin, f"origin of {plan.state_id!r}")
            plan.origin_data = origin_bytes(plan.state_id, origin_json)
        if plan.checkpoint is not None:
            reuse = cp_json if cp_json and not plan.checkpoint_from_state else None
            if origin_json and plan.checkpoint.state is plan.origin:
                reuse = origin_json
            plan.checkpoint_data = checkpoint_bytes(plan.state_id, plan.checkpoint, reuse)
        for snap_id, snap in plan.snapshots.items():
            plan.snapshot_data[snap_id] = dumps_line(snap.to_dict(), f"snapshot {snap_id!r}")
    return [plans[sid] for sid in sorted(plans)]


def commit(files: StateFiles, journal: Journal, index: StateIndex, plans: list[Plan]) -> None:
    """Write the planned batch with one commit point (see the module table)."""
    if len(plans) == 1:
        plan = plans[0]
        if plan.index is None:
            _create(files, index, plan)
            return
        if plan.origin_data:
            # Origin and checkpoint files change together: only the journal
            # makes that atomic (a rare write: re-initializing at head 0).
            _journaled(files, journal, index, plans)
            return
        if plan.versions and not plan.snapshots and not plan.checkpoint_from_state:
            _append(files, plan)
            return
        if not plan.versions and not plan.snapshots:
            files.io.write_atomic(
                files.cp_path(plan.state_id), plan.checkpoint_data, backups=files.backups
            )
            return
        if not plan.versions and plan.checkpoint is None and len(plan.snapshots) == 1:
            ((snap_id, data),) = plan.snapshot_data.items()
            files.io.write_atomic(files.snap_path(plan.state_id, snap_id), data)
            return
    _journaled(files, journal, index, plans)


def _note_torn(files: StateFiles, plan: Plan, path: Path) -> None:
    assert plan.index is not None
    files.counters.add("recovered_torn_tails")
    logger.warning(
        "cutting a torn tail of %d bytes off %s (an interrupted write, never acknowledged)",
        plan.size - plan.index.committed_end,
        path,
    )


def _append(files: StateFiles, plan: Plan) -> None:
    """Hot path: one append + one fdatasync is the commit point."""
    assert plan.index is not None
    path = files.log_path(plan.state_id)
    if plan.torn:
        _note_torn(files, plan, path)
    data = b"".join(plan.lines)
    start = files.io.append(path, data, truncate_to=plan.index.committed_end if plan.torn else None)
    files.logs.note_append(
        path,
        plan.index,
        start,
        [
            (v.number, v.id, v.checkpoint is not None, len(line))
            for v, line in zip(plan.versions, plan.lines, strict=True)
        ],
        plan.lines[-1],
    )
    if plan.checkpoint is not None:
        # After the commit: an optimization only (the line carries the checkpoint).
        try:
            files.io.write_atomic(
                files.cp_path(plan.state_id), plan.checkpoint_data, backups=files.backups
            )
        except StorageError as exc:
            files.counters.add("checkpoint_file_update_failures")
            logger.warning(
                "version %d of state %r is committed, but its checkpoint file was not "
                "updated (%s); readers use the checkpoint line",
                plan.head,
                plan.state_id,
                exc,
            )


def _create(files: StateFiles, index: StateIndex, plan: Plan) -> None:
    """Create a state: everything else first, the log's rename last (the commit point)."""
    sid = plan.state_id
    files.remove_leftovers(sid)  # of a deleted incarnation; invisible without a log
    index.add(sid)  # before the log: a crash may list a missing state, never hide one
    files.io.write_atomic(files.cp_path(sid), plan.checkpoint_data)
    if plan.origin_data:
        files.io.write_atomic(files.origin_path(sid), plan.origin_data)
    for snap_id, data in plan.snapshot_data.items():
        files.io.write_atomic(files.snap_path(sid, snap_id), data)
    base = plan.versions[0].number - 1 if plan.versions else 0
    files.io.write_atomic(files.log_path(sid), make_header(sid, base) + b"".join(plan.lines))


def _journaled(files: StateFiles, journal: Journal, index: StateIndex, plans: list[Plan]) -> None:
    """Several files: undo record, apply, remove record (the commit point)."""
    io = files.io
    undo: list[dict[str, Any]] = []
    actions: list[Callable[[], object]] = []
    post: list[tuple[int, Path, int]] = []  # (undo op index, target, backups) for saved copies

    def replace(path: Path, data: bytes, backups: int = 0) -> None:
        if path_exists(path):
            post.append((len(undo), path, backups))
            undo.append({"op": "restore", "path": path})
        else:
            undo.append({"op": "unlink", "path": path})
        actions.append(partial(io.write_atomic, path, data))

    created = [p for p in plans if p.index is None]
    for plan in created:
        files.remove_leftovers(plan.state_id)
        index.add(plan.state_id)
        undo.append({"op": "unlink", "path": files.cp_path(plan.state_id)})
        actions.append(partial(io.write_atomic, files.cp_path(plan.state_id), plan.checkpoint_data))
        if plan.origin_data:
            undo.append({"op": "unlink", "path": files.origin_path(plan.state_id)})
            actions.append(
                partial(io.write_atomic, files.origin_path(plan.state_id), plan.origin_data)
            )
        for snap_id, data in plan.snapshot_data.items():
            path = files.snap_path(plan.state_id, snap_id)
            undo.append({"op": "unlink", "path": path})
            actions.append(partial(io.write_atomic, path, data))
    for plan in plans:  # logs next: a created state becomes visible with its log
        log = files.log_path(plan.state_id)
        if plan.index is None:
            base = plan.versions[0].number - 1 if plan.versions else 0
            undo.append({"op": "unlink", "path": log})
            data = make_header(plan.state_id, base) + b"".join(plan.lines)
            actions.append(partial(io.write_atomic, log, data))
        elif plan.lines:
            if plan.torn:
                _note_torn(files, plan, log)
            end = plan.index.committed_end
            undo.append({"op": "truncate", "path": log, "size": end})
            data = b"".join(plan.lines)
            actions.append(partial(io.append, log, data, truncate_to=end))
    for plan in plans:
        if plan.index is None:
            continue
        if plan.checkpoint is not None:
            replace(files.cp_path(plan.state_id), plan.checkpoint_data, files.backups)
        if plan.origin_data:
            replace(files.origin_path(plan.state_id), plan.origin_data)
        for snap_id, data in plan.snapshot_data.items():
            replace(files.snap_path(plan.state_id, snap_id), data)
    record = journal.begin([p.state_id for p in plans], undo)
    try:
        for action in actions:
            action()
    except BaseException:
        for plan in plans:  # readers may have parsed lines that are now rolled back
            files.logs.drop(files.log_path(plan.state_id))
        try:
            journal.rollback(record)
        except Exception as exc:  # the record stays: the next writer or open rolls back
            logger.error(
                "rolling back batch %s failed (%s); it will be rolled back on the next "
                "write to its states or the next open",
                record.txid,
                exc,
            )
        raise
    journal.commit(record)
    for op_index, target, backups in post:  # after the commit: old contents become backups
        try:
            saved = journal.saved_path(record, record.ops[op_index])
            if backups > 0 and path_exists(saved):
                io.rotate_backups(target, backups, current=saved)
                io.sync_dir(target.parent)
            else:
                io.unlink(saved)
        except StorageError as exc:
            logger.warning(
                "batch %s committed; backup of %s not kept (%s)", record.txid, target, exc
            )
