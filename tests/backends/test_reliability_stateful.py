"""A stateful property test of :class:`PersistentStateStore` over every backend.

Hypothesis drives random sequences of valid and invalid writes, transactions,
snapshots, restores, prunes, reopens and export/import round trips against a
plain-dict model. After every step:

* memory equals the model, and a store reopened from the backend equals memory;
* every acknowledged version still kept is readable, with its id;
* a rejected write raised a clear ``StateError`` and changed nothing.

Kept small (few examples, short runs) so that it adds seconds per backend;
the point is many different interleavings over the suite's lifetime, not an
exhaustive search per run.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from agui_state.backends import MemoryBackend
from agui_state.errors import StateError
from agui_state.migration import export_data, import_data
from agui_state.persistent import PersistentStateStore
from agui_state.store import StoreOptions
from agui_state.testing import BackendFactory

_ids = itertools.count(1)
_OPTIONS = StoreOptions(checkpoint_interval=3)

KEYS = st.sampled_from(["a", "b", "c", "d~x", "e/f"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


# Writes every store must refuse, whatever the backend: (name, call).
_DEEP_PATH = "/" + "/".join(["k"] * 65)
INVALID = st.sampled_from(
    [
        ("too deep", lambda p: p.set(_DEEP_PATH, 1)),
        ("huge int", lambda p: p.set("/a", 10**5000)),
        ("not JSON", lambda p: p.set("/a", float("nan"))),
        ("bad op", lambda p: p.apply_patch([{"op": "frobnicate", "path": "/a"}])),
        ("missing", lambda p: p.delete("/no/such/member")),
        ("metadata", lambda p: p.set("/a", 1, metadata={"m": "x" * 100_000})),
        ("failing test", lambda p: p.apply_patch([{"op": "test", "path": "", "value": 0}])),
        ("tx too deep", lambda p: p.transaction().set(_DEEP_PATH, 1)),
    ]
)


def _machine(factory: BackendFactory) -> type[RuleBasedStateMachine]:
    class StoreMachine(RuleBasedStateMachine):
        snapshots = Bundle("snapshots")

        def __init__(self) -> None:
            super().__init__()
            self.backend = factory()
            self.sid = f"prop-{next(_ids)}"
            self.store = PersistentStateStore(self.backend, self.sid, options=_OPTIONS)
            self.model: dict[str, Any] = {}
            self.acked: dict[int, str] = {}  # number -> id of every acknowledged version
            self.oldest_kept = 1

        def _ack(self, number: int, version_id: str) -> None:
            self.acked[number] = version_id

        @rule(key=KEYS, value=VALUES)
        def set_value(self, key: str, value: Any) -> None:
            version = self.store.set(_pointer(key), value, metadata={"k": key})
            self.model[key] = copy.deepcopy(value)
            self._ack(version.number, version.id)

        @rule(key=KEYS)
        def delete(self, key: str) -> None:
            if key in self.model:
                version = self.store.delete(_pointer(key))
                del self.model[key]
                self._ack(version.number, version.id)

        @rule(invalid=INVALID)
        def rejected_write(self, invalid: tuple[str, Any]) -> None:
            name, call = invalid
            before = (self.store.version, self.store.get_state(), self.backend.exists(self.sid))
            try:
                call(self.store)
            except StateError:
                pass
            else:
                raise AssertionError(f"{name}: accepted")
            after = (self.store.version, self.store.get_state(), self.backend.exists(self.sid))
            assert after == before, name

        @rule(changes=st.dictionaries(KEYS, VALUES, min_size=1, max_size=3))
        def transaction(self, changes: dict[str, Any]) -> None:
            with self.store.transaction() as tx:
                for key, value in changes.items():
                    tx.set(_pointer(key), value)
            version = self.store.store.get_version(self.store.version)
            self.model.update(copy.deepcopy(changes))
            self._ack(version.number, version.id)

        @rule(target=snapshots, label=st.text(max_size=5))
        def snapshot(self, label: str) -> tuple[str, dict[str, Any]]:
            snap = self.store.create_snapshot(label)
            return snap.id, copy.deepcopy(self.model)

        @rule(snap=snapshots)
        def restore(self, snap: tuple[str, dict[str, Any]]) -> None:
            snapshot_id, state = snap
            version = self.store.restore_persistent_snapshot(snapshot_id)
            self.model = copy.deepcopy(state)
            self._ack(version.number, version.id)

        @rule(keep=st.integers(1, 4))
        def prune(self, keep: int) -> None:
            self.store.prune_history(keep)
            self.oldest_kept = max(self.oldest_kept, self.store.version - keep + 1)

        @rule()
        def reopen(self) -> None:
            self.store.close()
            self.backend = factory()
            self.store = PersistentStateStore(self.backend, self.sid, options=_OPTIONS)

        @rule()
        def export_import(self) -> None:
            if not self.backend.exists(self.sid):
                return
            dump = export_data(self.backend, [self.sid])
            other = MemoryBackend()
            import_data(other, dump)
            assert other.get_state(self.sid) == self.model
            assert other.head_version(self.sid) == self.store.version

        @invariant()
        def memory_and_storage_agree(self) -> None:
            assert self.store.get_state() == self.model
            if not self.backend.exists(self.sid):
                assert self.store.version == 0
                return
            with PersistentStateStore(factory(), self.sid, options=_OPTIONS) as again:
                assert again.version == self.store.version
                assert again.get_state() == self.model
            for number, version_id in self.acked.items():
                if number >= self.oldest_kept:
                    assert self.backend.get_version(self.sid, number).id == version_id

        def teardown(self) -> None:
            self.store.close()

    return StoreMachine


def test_persistent_store_state_machine(backend_factory: BackendFactory) -> None:
    machine = _machine(backend_factory)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=4,
            stateful_step_count=10,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
