"""Random operation sequences give the same results on the file and memory backends.

``MemoryBackend`` is the reference: every call's result (or error type) and
every observable afterwards must match, including across a reopen of the
folder.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agui_state.backends import MemoryBackend, StorageBackend
from agui_state.backends.file import FileBackend
from agui_state.errors import StateError
from agui_state.models import StateSnapshot, StateVersion, new_id, utcnow
from agui_state.patch import apply_patch
from tests.backends.test_file import open_backend

IDS = ["a", "b", "../c", "Ü/ü"]


def _observe(backend: StorageBackend) -> dict[str, Any]:
    out: dict[str, Any] = {"ids": backend.list_states(limit=100)}
    for sid in IDS:
        if not backend.exists(sid):
            out[sid] = None
            continue
        out[sid] = {
            "head": backend.head_version(sid),
            "state": backend.get_state(sid),
            "versions": [v.to_dict() for v in backend.get_versions(sid)],
            "history": [v.number for v in backend.get_version_history(sid, limit=3)],
            "snapshots": [s.to_dict() for s in backend.list_snapshots(sid)],
        }
    return out


def _call(backend: StorageBackend, name: str, *args: Any, **kwargs: Any) -> Any:
    try:
        result = getattr(backend, name)(*args, **kwargs)
    except StateError as exc:
        return ("error", type(exc).__name__)
    if isinstance(result, StateVersion):
        return result.to_dict()
    return result


class _Script:
    """Builds random operations from the reference backend's current state."""

    def __init__(self, rng: random.Random, ref: MemoryBackend) -> None:
        self.rng = rng
        self.ref = ref

    def head(self, sid: str) -> int | None:
        return self.ref.head_version(sid) if self.ref.exists(sid) else None

    def version(self, sid: str) -> StateVersion:
        head = self.head(sid)
        number = (head or 0) + 1
        if self.rng.random() < 0.15:
            number += self.rng.choice([-1, 1, 5])  # a conflict (or an import at 6)
        key = self.rng.choice("xyz")
        delta = [{"op": "add", "path": f"/{key}", "value": self.rng.randint(0, 9)}]
        checkpoint = None
        if self.rng.random() < 0.25 and head is not None:
            checkpoint = apply_patch(self.ref.get_state(sid), delta)
        elif head is None and number > 1:
            checkpoint = {"imported": number}
        return StateVersion(new_id(), sid, max(number, 1), None, utcnow(), delta, {}, checkpoint)

    def snapshot(self, sid: str) -> StateSnapshot:
        head = self.head(sid) or 0
        state = self.ref.get_state(sid) if self.head(sid) is not None else {}
        snap_id = self.rng.choice(["s1", "s2", "../s3"])
        return StateSnapshot(snap_id, sid, head, utcnow(), state, self.rng.choice([None, "l"]))

    def step(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        sid = self.rng.choice(IDS)
        roll = self.rng.random()
        if roll < 0.45:
            return "save_version", (sid, self.version(sid)), {}
        if roll < 0.55:
            expected = self.rng.choice([None, self.head(sid), 99])
            state = {"set": self.rng.randint(0, 99)}
            return "set_state", (sid, state), {"expected_version": expected}
        if roll < 0.63:
            return "save_snapshot", (sid, self.snapshot(sid)), {}
        if roll < 0.78:
            other = self.rng.choice([s for s in IDS if s != sid])
            return "_transaction", ([("v", sid), ("v", other), ("s", sid)],), {}
        if roll < 0.85:
            return "prune_history", (sid, self.rng.randint(0, 4)), {}
        if roll < 0.90:
            return "delete_state", (sid,), {}
        head = self.head(sid) or 0
        return "state_at", (sid, self.rng.randint(0, head + 1)), {}


def _transaction(backend: StorageBackend, items: list[Any]) -> Any:
    try:
        with backend.begin_transaction() as tx:
            for kind, payload in items:
                if kind == "v":
                    tx.save_version(payload.state_id, payload)
                else:
                    tx.save_snapshot(payload.state_id, payload)
    except StateError as exc:
        return ("error", type(exc).__name__)
    return None


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_operations_match_the_memory_backend(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    ref = MemoryBackend()
    base = tmp_path / "data"
    backend: FileBackend = open_backend(base, enable_sharding=seed % 2 == 0, backup_count=2)
    script = _Script(rng, ref)
    for step in range(150):
        name, args, kwargs = script.step()
        if name == "_transaction":
            # Build the writes once from the reference, apply the same objects to both.
            items = [(k, script.version(s) if k == "v" else script.snapshot(s)) for k, s in args[0]]
            expected, got = _transaction(ref, items), _transaction(backend, items)
        else:
            expected, got = _call(ref, name, *args, **kwargs), _call(backend, name, *args, **kwargs)
        assert got == expected, f"seed {seed} step {step}: {name}{args}"
        assert _observe(backend) == _observe(ref), f"seed {seed} step {step}: {name}{args}"
        if step % 50 == 49:  # a fresh instance reads the same from disk
            backend.close()
            backend = open_backend(base, backup_count=2)
    backend.close()
