"""A known multi-run history, written through a real PersistentStateStore.

``thread-1`` (checkpoint every 3 versions, so replays start from checkpoints)::

    v1  run-1  set /cart {"total": 0, "items": []}
    v2  run-1  add /cart/items/- "apple", replace /cart/total 3
    v3  run-1  add /cart/items/- "pear", replace /cart/total 5
        snapshot "before-run-2" (at version 3)
    v4  run-2  set /user "ann"
    v5  run-2  set /cart {"total": 7, "items": ["pear"]}   (parent replaced: total 5 -> 7)
    v6  run-2  set /cart/total 7                           (same value: no change of value)
    v7  run-3  move /cart/items/0 -> /saved
    v8  run-3  remove /user
    v9  run-3  set /cart {"total": 7, "items": []}          (parent replaced, total equal)
    v10 run-3  remove /cart                                (total removed)
    v11 run-4  add /cart {"total": 1}

``thread-2``: v1 run-9 set /cart {"total": 2}; v2 run-9 set /cart/total 4.
``empty``: created by ``set_state`` with no versions.
"""

from __future__ import annotations

from dataclasses import dataclass

from agui_state import PersistentStateStore, StoreOptions
from agui_state.backends import StorageBackend

T1 = "thread-1"
T2 = "thread-2"
EMPTY = "empty"

T1_FINAL = {"cart": {"total": 1}, "saved": "pear"}

# (version, run, old, new) of /cart/total in thread-1; None = absent.
T1_TOTAL_CHANGES = [
    (1, "run-1", None, 0),
    (2, "run-1", 0, 3),
    (3, "run-1", 3, 5),
    (5, "run-2", 5, 7),
    (10, "run-3", 7, None),
    (11, "run-4", None, 1),
]


@dataclass
class Seeded:
    """The seeded backend and the ids a test needs."""

    backend: StorageBackend
    snapshot_id: str
    heads: dict[str, int]


def seed(backend: StorageBackend) -> Seeded:
    """Write the history described in the module docstring into ``backend``."""
    opts = StoreOptions(checkpoint_interval=3)
    with PersistentStateStore(backend, T1, options=opts) as store:

        def run(name: str) -> dict[str, str]:
            return {"run_id": name}

        store.set("/cart", {"total": 0, "items": []}, metadata=run("run-1"))
        store.apply_patch(
            [
                {"op": "add", "path": "/cart/items/-", "value": "apple"},
                {"op": "replace", "path": "/cart/total", "value": 3},
            ],
            metadata=run("run-1"),
        )
        store.apply_patch(
            [
                {"op": "add", "path": "/cart/items/-", "value": "pear"},
                {"op": "replace", "path": "/cart/total", "value": 5},
            ],
            metadata=run("run-1"),
        )
        snap = store.create_persistent_snapshot("before-run-2")
        store.set("/user", "ann", metadata=run("run-2"))
        store.set("/cart", {"total": 7, "items": ["pear"]}, metadata=run("run-2"))
        store.set("/cart/total", 7, metadata=run("run-2"))
        store.apply_patch(
            [{"op": "move", "from": "/cart/items/0", "path": "/saved"}], metadata=run("run-3")
        )
        store.delete("/user", metadata=run("run-3"))
        store.set("/cart", {"total": 7, "items": []}, metadata=run("run-3"))
        store.delete("/cart", metadata=run("run-3"))
        store.apply_patch(
            [{"op": "add", "path": "/cart", "value": {"total": 1}}], metadata=run("run-4")
        )
        assert store.get_state() == T1_FINAL
    with PersistentStateStore(backend, T2) as store:
        store.set("/cart", {"total": 2}, metadata={"run_id": "run-9"})
        store.set("/cart/total", 4, metadata={"run_id": "run-9"})
    backend.set_state(EMPTY, {"note": "no versions"})
    return Seeded(backend, snap.id, {T1: 11, T2: 2, EMPTY: 0})


def fingerprint(backend: StorageBackend) -> dict[str, object]:
    """Everything a read must leave unchanged: per state, head, document and snapshot ids."""
    out: dict[str, object] = {}
    for sid in backend.iter_states():
        snaps = [s.id for s in backend.list_snapshots(sid)]
        out[sid] = (backend.head_version(sid), backend.get_state(sid), snaps)
    return out
