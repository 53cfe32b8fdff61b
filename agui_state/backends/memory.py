"""The in-process reference backend.

:class:`MemoryBackend` keeps everything in dicts behind one lock. It has no
server and no files; it is the reference implementation the conformance suite
checks every other backend against, and a handy backend for development.
Data lives as long as the process (and the backend object).

Stored values are the models' dict shape, copied in and out, exactly as a
real backend would serialize them, so nothing a caller mutates afterwards can
reach the stored data.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agui_state.backends.base import (
    Checkpoint,
    HeadTracker,
    StorageBackend,
    Write,
    validate_state_id,
)
from agui_state.config import StorageConfig
from agui_state.errors import NotFoundError, StorageError
from agui_state.models import StateSnapshot, StateVersion

__all__ = ["MemoryBackend"]


@dataclass
class _Record:
    head: int = 0
    checkpoint_version: int = 0
    checkpoint: dict[str, Any] = field(default_factory=dict)
    # The state at version 0 (see base.py); shares the checkpoint's dict when
    # stored together: stored values are replaced, never mutated in place.
    origin: dict[str, Any] = field(default_factory=dict)
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)


class MemoryBackend(StorageBackend):
    """A backend that keeps states in process memory (``memory://``)."""

    backend_type = "memory"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config or StorageConfig(type="memory", connection_url="memory://"))
        self._lock = threading.RLock()
        self._records: dict[str, _Record] = {}
        # Sorted ids: list_states pages with bisect instead of a full scan.
        self._ids: list[str] = []
        self._writes = 0

    def _check(self) -> None:
        if self._closed:
            raise StorageError("backend is closed", backend=self.backend_type)

    # ------------------------------------------------------------------ writes
    def write_batch(self, writes: Sequence[Write]) -> None:
        self._check()
        with self._lock:
            tracker = HeadTracker()
            for write in writes:
                rec = self._records.get(write.state_id)
                tracker.check(write, rec.head if rec else None)
            # All checks passed: apply. Nothing below can fail half-way.
            for write in writes:
                rec = self._records.get(write.state_id)
                if rec is None:
                    rec = self._records[write.state_id] = _Record()
                    bisect.insort(self._ids, write.state_id)
                if write.kind == "version":
                    assert write.version is not None
                    data = copy.deepcopy(write.version.to_dict())
                    rec.versions[write.version.number] = data
                    rec.ids[write.version.id] = write.version.number
                    rec.head = write.version.number
                    if write.version.checkpoint is not None:
                        rec.checkpoint_version = write.version.number
                        rec.checkpoint = copy.deepcopy(write.version.checkpoint)
                elif write.kind == "state":
                    assert write.state is not None
                    rec.checkpoint_version = rec.head
                    rec.checkpoint = copy.deepcopy(write.state)
                    if rec.head == 0:
                        rec.origin = rec.checkpoint
                else:
                    assert write.snapshot is not None
                    rec.snapshots[write.snapshot.id] = copy.deepcopy(write.snapshot.to_dict())
                self._writes += 1

    def delete_state(self, state_id: str) -> None:
        self._check()
        validate_state_id(state_id)
        with self._lock:
            if self._records.pop(state_id, None) is None:
                raise NotFoundError("state", state_id)
            del self._ids[bisect.bisect_left(self._ids, state_id)]

    def replace_version(self, state_id: str, version: StateVersion) -> None:
        with self._lock:
            rec = self._records[state_id]
            rec.versions[version.number] = copy.deepcopy(version.to_dict())

    def store_checkpoint(self, state_id: str, checkpoint: Checkpoint) -> None:
        with self._lock:
            rec = self._records[state_id]
            rec.checkpoint_version = checkpoint.version
            rec.checkpoint = copy.deepcopy(checkpoint.state)

    def delete_versions_before(self, state_id: str, number: int) -> int:
        with self._lock:
            rec = self._records[state_id]
            doomed = [n for n in rec.versions if n < number]
            for n in doomed:
                del rec.ids[rec.versions.pop(n)["id"]]
            return len(doomed)

    # ------------------------------------------------------------------- reads
    def read_head(self, state_id: str) -> int | None:
        self._check()
        with self._lock:
            rec = self._records.get(state_id)
            return rec.head if rec else None

    def read_checkpoint(self, state_id: str) -> Checkpoint | None:
        self._check()
        with self._lock:
            rec = self._records.get(state_id)
            if rec is None:
                return None
            return Checkpoint(rec.checkpoint_version, copy.deepcopy(rec.checkpoint))

    def read_origin(self, state_id: str) -> dict[str, Any]:
        self._check()
        with self._lock:
            rec = self._records.get(state_id)
            return copy.deepcopy(rec.origin) if rec else {}

    def read_version(
        self, state_id: str, number: int | None, version_id: str | None
    ) -> StateVersion | None:
        self._check()
        with self._lock:
            rec = self._records.get(state_id)
            if rec is None:
                return None
            if number is None:
                number = rec.ids.get(version_id or "")
            data = rec.versions.get(number) if number is not None else None
            return StateVersion.from_dict(copy.deepcopy(data)) if data else None

    def get_versions(
        self, state_id: str, after: int = 0, limit: int | None = None
    ) -> list[StateVersion]:
        self._check()
        validate_state_id(state_id)
        with self._lock:
            rec = self._records.get(state_id)
            if rec is None:
                return []
            numbers = sorted(n for n in rec.versions if n > after)
            if limit is not None:
                numbers = numbers[:limit]
            return [StateVersion.from_dict(copy.deepcopy(rec.versions[n])) for n in numbers]

    def get_version_history(
        self, state_id: str, limit: int = 50, before: int | None = None
    ) -> list[StateVersion]:
        self._check()
        validate_state_id(state_id)
        with self._lock:
            rec = self._records.get(state_id)
            if rec is None:
                raise NotFoundError("state", state_id)
            numbers = sorted(
                (n for n in rec.versions if before is None or n < before), reverse=True
            )
            return [
                StateVersion.from_dict(copy.deepcopy(rec.versions[n]))
                for n in numbers[: max(limit, 0)]
            ]

    def get_snapshot(self, state_id: str, snapshot_id: str) -> StateSnapshot:
        self._check()
        validate_state_id(state_id)
        with self._lock:
            rec = self._records.get(state_id)
            data = rec.snapshots.get(snapshot_id) if rec else None
            if data is None:
                raise NotFoundError("snapshot", state_id, snapshot_id)
            return StateSnapshot.from_dict(copy.deepcopy(data))

    def list_snapshots(self, state_id: str) -> list[StateSnapshot]:
        self._check()
        validate_state_id(state_id)
        with self._lock:
            rec = self._records.get(state_id)
            if rec is None:
                return []
            snaps = [StateSnapshot.from_dict(copy.deepcopy(d)) for d in rec.snapshots.values()]
        return sorted(snaps, key=lambda s: (s.version, s.timestamp, s.id))

    def list_states(
        self, prefix: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[str]:
        self._check()
        with self._lock:
            start = 0
            if after is not None:
                start = bisect.bisect_right(self._ids, after)
            if prefix:
                start = max(start, bisect.bisect_left(self._ids, prefix))
            out: list[str] = []
            for sid in self._ids[start:]:
                if len(out) >= limit:
                    break
                if prefix and not sid.startswith(prefix):
                    break
                out.append(sid)
            return out

    # ------------------------------------------------------------ housekeeping
    def ping(self) -> None:
        self._check()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "backend_type": self.backend_type,
                "states": len(self._records),
                "versions": sum(len(r.versions) for r in self._records.values()),
                "snapshots": sum(len(r.snapshots) for r in self._records.values()),
                "writes": self._writes,
                "closed": self._closed,
            }
