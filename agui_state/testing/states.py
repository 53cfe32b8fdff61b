"""Conformance checks: ``set_state``, snapshots, ``list_states``, state ids
(invalid, odd, look-alike) and cascade delete.

Collected by :mod:`agui_state.testing.suite`; see :mod:`agui_state.testing`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agui_state.backends import StorageBackend
from agui_state.backends.base import MAX_STATE_ID_LENGTH
from agui_state.errors import (
    ConflictError,
    NotFoundError,
    ValidationError,
)
from agui_state.testing.fixtures import durability_check
from agui_state.testing.helpers import (
    assert_not_found,
    collect_pages,
    expected_state,
    make_snapshot,
    make_version,
    numbers,
    save_all,
    standard_chain,
)

ODD_IDS = {
    "unicode": "ünïcødé-日本語-😀",
    "space": "with space ",
    "quotes": "q'uo\"te`",
    "glob": "g*l?o[b]",
    "braces": "{hash}tag{}",
    "like": "100%_like\\",
    "traversal": "../../etc/passwd",
    "slashes": "a/b\\c/",
    "control": "tab\tnew\nline\r",
    "colons": ":a:b:",
    "dot": ".",
    "dots": "..",
    "reserved": "CON",
    "longest": "L" * MAX_STATE_ID_LENGTH,
    "long_unicode": "é" * MAX_STATE_ID_LENGTH,
}


# ---------------------------------------------------------------- set_state
@durability_check
def test_set_state_creates_at_version_zero(backend: StorageBackend) -> None:
    sid = "doc"
    state = {"imported": True, "items": ["a"]}
    backend.set_state(sid, state)
    assert backend.exists(sid)
    assert backend.head_version(sid) == 0
    assert backend.get_state(sid) == state
    assert backend.state_at(sid, 0) == state
    assert backend.get_versions(sid) == []
    assert backend.get_version_history(sid) == []
    assert backend.list_states() == [sid]
    backend.save_version(
        sid, make_version(sid, 1, [{"op": "add", "path": "/items/-", "value": "b"}])
    )
    assert backend.get_state(sid) == {"imported": True, "items": ["a", "b"]}
    assert backend.head_version(sid) == 1


def test_set_state_expected_version(backend: StorageBackend) -> None:
    sid = "doc"
    with pytest.raises(ConflictError) as exc:
        backend.set_state(sid, {"a": 1}, expected_version=1)
    assert exc.value.state_id == sid
    assert not backend.exists(sid)
    backend.set_state(sid, {"a": 1}, expected_version=0)
    assert backend.get_state(sid) == {"a": 1}
    save_all(backend, standard_chain(sid, 1, 3))
    for wrong in (0, 2, 4):
        with pytest.raises(ConflictError) as exc:
            backend.set_state(sid, {"wrong": wrong}, expected_version=wrong)
        assert exc.value.state_id == sid
        assert exc.value.expected == wrong
        assert exc.value.actual in (3, None)
    assert backend.head_version(sid) == 3
    assert backend.get_state(sid)["n"] == 3


def test_set_state_keeps_head_and_history(backend: StorageBackend) -> None:
    sid = "doc"
    save_all(backend, standard_chain(sid, 1, 3))
    backend.set_state(sid, {"replaced": True}, expected_version=3)
    assert backend.head_version(sid) == 3
    assert backend.get_state(sid) == {"replaced": True}
    assert numbers(backend.get_versions(sid)) == [1, 2, 3]
    assert backend.state_at(sid, 3) == {"replaced": True}
    assert backend.state_at(sid, 2) == expected_state(2)
    backend.save_version(sid, make_version(sid, 4, [{"op": "add", "path": "/more", "value": 4}]))
    assert backend.get_state(sid) == {"replaced": True, "more": 4}
    backend.set_state(sid, {"plain": 1})  # no expectation: always written
    assert backend.get_state(sid) == {"plain": 1}
    assert backend.head_version(sid) == 4


# ---------------------------------------------------------------- snapshots
def test_snapshots_order_replace_and_absent_state(backend: StorageBackend) -> None:
    sid = "doc"
    with pytest.raises(NotFoundError) as exc:
        backend.save_snapshot(sid, make_snapshot(sid, 0))
    assert_not_found(exc, "state", sid)
    assert not backend.exists(sid)
    save_all(backend, standard_chain(sid, 1, 2))
    t0 = datetime(2025, 1, 1, 12, 0, 0, 0, tzinfo=UTC)
    t1 = t0 + timedelta(microseconds=1)
    s_b = make_snapshot(sid, 2, expected_state(2), snapshot_id="snap-b", timestamp=t1, label="b")
    s_z = make_snapshot(sid, 0, {}, snapshot_id="snap-z", timestamp=t1 + timedelta(days=1))
    s_a = make_snapshot(sid, 2, expected_state(2), snapshot_id="snap-a", timestamp=t1)
    s_m = make_snapshot(sid, 1, expected_state(1), snapshot_id="snap-m", timestamp=t0)
    s_y = make_snapshot(sid, 2, expected_state(2), snapshot_id="snap-y", timestamp=t0)
    for snap in (s_b, s_z, s_a, s_m, s_y):
        backend.save_snapshot(sid, snap)
    assert backend.list_snapshots(sid) == [s_z, s_m, s_y, s_a, s_b]
    assert backend.get_snapshot(sid, "snap-m") == s_m
    replaced = make_snapshot(sid, 1, {"other": 1}, snapshot_id="snap-b", timestamp=t0, label="new")
    backend.save_snapshot(sid, replaced)
    assert backend.get_snapshot(sid, "snap-b") == replaced
    assert backend.list_snapshots(sid) == [s_z, replaced, s_m, s_y, s_a]
    # Snapshots write no version and leave the state alone.
    assert backend.head_version(sid) == 2
    assert backend.get_state(sid) == expected_state(2)


# -------------------------------------------------------------- list_states
LISTED_IDS = [
    "a",
    "B",
    "b",
    "ab",
    "a b",
    "a'b",
    'a"b',
    "a*",
    "a*b",
    "a?",
    "a?b",
    "a[1]",
    "a1",
    "a{x}",
    "a}",
    "a%",
    "a%1",
    "abc",
    "a_",
    "a_1",
    "ax1",
    "a\\b",
    "a/b",
    "a:b",
    "a.b",
    "../x",
    "é",
    "e\u0301",
    "ä",
    "z",
    "日本",
    "\ufb01",
    "😀",
    "tab\tid",
    "nl\nid",
    "Case",
    "case",
    "L" * MAX_STATE_ID_LENGTH,
]


def _create_many(backend: StorageBackend, ids: list[str]) -> None:
    with backend.begin_transaction() as tx:
        for sid in ids:
            tx.set_state(sid, {"id": sid})


def test_list_states_order_prefix_and_paging(backend: StorageBackend) -> None:
    _create_many(backend, LISTED_IDS)
    everything = sorted(LISTED_IDS)  # Python sorts str by code point
    assert backend.list_states(limit=1000) == everything
    assert backend.list_states(prefix="", limit=1000) == everything
    assert backend.list_states(limit=5) == everything[:5]
    assert backend.list_states(limit=0) == []
    for size in (1, 3, 7):

        def states_page(after: str | None, size: int = size) -> list[str]:
            return backend.list_states(limit=size, after=after)

        pages = collect_pages(
            states_page,
            lambda sid: sid,
            page_size=size,
            max_items=len(everything),
        )
        assert pages == everything, f"paging by {size}"
    assert list(backend.iter_states(page_size=4)) == everything
    assert backend.list_states(after="aa", limit=1000) == [i for i in everything if i > "aa"]
    assert backend.list_states(after="\U0010ffff") == []
    for prefix in (
        "a",
        "a_",
        "a%",
        "a*",
        "a?",
        "a[",
        "a\\",
        "a{",
        "a'",
        'a"',
        "e",
        "L",
        "\t",
        "日",
        "zz",
    ):
        want = [i for i in everything if i.startswith(prefix)]
        assert backend.list_states(prefix=prefix, limit=1000) == want, f"prefix {prefix!r}"
    paged = collect_pages(
        lambda after: backend.list_states(prefix="a", limit=4, after=after),
        lambda sid: sid,
        page_size=4,
        max_items=len(everything),
    )
    assert paged == [i for i in everything if i.startswith("a")]
    assert backend.list_states(prefix="b", after="a") == ["b"]
    assert backend.list_states(prefix="a", after="b") == []
    for sid in LISTED_IDS:
        assert backend.get_state(sid) == {"id": sid}


def test_list_states_default_limit(backend: StorageBackend) -> None:
    ids = [f"s{i:03d}" for i in range(105)]
    _create_many(backend, ids)
    assert backend.list_states() == ids[:100]
    assert backend.list_states(after=ids[99]) == ids[100:]
    assert backend.list_states(prefix="s10") == ids[100:]


INVALID_IDS = {
    "empty": "",
    "nul": "a\x00b",
    "too-long": "x" * (MAX_STATE_ID_LENGTH + 1),
    "int": 123,
    "none": None,
    "bytes": b"abc",
    "lone-surrogate": "a\udcffb",
}


@pytest.mark.parametrize("bad", list(INVALID_IDS.values()), ids=list(INVALID_IDS))
def test_invalid_state_ids(backend: StorageBackend, bad: Any) -> None:
    calls: list[Callable[[], object]] = [
        lambda: backend.get_state(bad),
        lambda: backend.exists(bad),
        lambda: backend.head_version(bad),
        lambda: backend.get_versions(bad),
        lambda: backend.get_version_history(bad),
        lambda: backend.get_version(bad, 1),
        lambda: backend.state_at(bad, 0),
        lambda: backend.delete_state(bad),
        lambda: backend.list_snapshots(bad),
        lambda: backend.get_snapshot(bad, "x"),
        lambda: backend.prune_history(bad, 1),
        lambda: backend.set_state(bad, {}),
        lambda: backend.save_version(bad, make_version(bad, 1)),
        lambda: backend.save_snapshot(bad, make_snapshot(bad, 0)),
        lambda: backend.begin_transaction().save_version(bad, make_version(bad, 1)),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(ValidationError) as exc:
            call()
        assert exc.value.field == "state_id", f"call {i}"
    assert backend.list_states() == []


# --------------------------------------------------------------- odd ids
@pytest.mark.parametrize("sid", list(ODD_IDS.values()), ids=list(ODD_IDS))
def test_odd_state_id_lifecycle(backend: StorageBackend, sid: str) -> None:
    # A second state whose id extends this one (or, at the length limit, shortens it).
    neighbour = sid + "x" if len(sid) < MAX_STATE_ID_LENGTH else sid[:-1]
    with_prefix = sorted(i for i in (sid, neighbour) if i.startswith(sid))
    backend.set_state(neighbour, {"neighbour": True})
    chain = standard_chain(sid, 1, 4, checkpoint_every=3)
    save_all(backend, chain[:2])
    save_all(backend, chain[2:], batch=True)
    assert backend.exists(sid)
    assert backend.head_version(sid) == 4
    assert backend.get_state(sid) == expected_state(4)
    assert backend.state_at(sid, 2) == expected_state(2)
    assert backend.get_version(sid, chain[1].id) == chain[1]
    assert backend.get_versions(sid) == chain
    assert backend.get_version_history(sid, limit=2) == [chain[3], chain[2]]
    snap = make_snapshot(sid, 4, expected_state(4), label=sid[:50])
    backend.save_snapshot(sid, snap)
    assert backend.get_snapshot(sid, snap.id) == snap
    assert backend.list_snapshots(sid) == [snap]
    assert backend.list_states(prefix=sid) == with_prefix
    assert backend.list_states(limit=10) == sorted([sid, neighbour])
    backend.set_state(sid, expected_state(4), expected_version=4)
    assert backend.prune_history(sid, 1) == 3
    assert numbers(backend.get_versions(sid)) == [4]
    assert backend.get_state(sid) == expected_state(4)
    backend.delete_state(sid)
    assert not backend.exists(sid)
    assert backend.list_snapshots(sid) == []
    assert backend.list_states() == [neighbour]
    assert backend.get_state(neighbour) == {"neighbour": True}


def test_ids_that_look_like_internal_keys_are_independent(backend: StorageBackend) -> None:
    # Ids a naive key or path scheme would make collide with another state's data.
    base = "doc"
    lookalikes = [
        "Doc",
        "doc:versions",
        "doc:snapshots",
        "doc:head",
        "doc:1",
        "doc/versions",
        "doc/1",
        "doc.json",
        "doc{x}",
        "{doc}",
        "doc*",
        "do?",
        "do[c]",
        "doc ",
        " doc",
        "e\u0301",
        "\u00e9",
    ]
    save_all(backend, standard_chain(base, 1, 3))
    backend.save_snapshot(base, make_snapshot(base, 3, expected_state(3), snapshot_id="s1"))
    for i, sid in enumerate(lookalikes):
        backend.save_version(
            sid, make_version(sid, 1, [{"op": "add", "path": "/who", "value": sid}])
        )
        backend.save_snapshot(sid, make_snapshot(sid, 1, {"who": sid}, snapshot_id=f"s{i}"))
    assert backend.list_states(limit=1000) == sorted([base, *lookalikes])
    for sid in lookalikes:
        assert backend.get_state(sid) == {"who": sid}
        assert backend.head_version(sid) == 1
        assert [s.state for s in backend.list_snapshots(sid)] == [{"who": sid}]
    assert backend.get_state(base) == expected_state(3)
    assert numbers(backend.get_versions(base)) == [1, 2, 3]
    # Deleting ids with glob characters removes exactly that state.
    for sid in ("doc*", "do?", "do[c]"):
        backend.delete_state(sid)
    assert backend.get_state(base) == expected_state(3)
    assert backend.list_snapshots(base)[0].id == "s1"
    assert backend.list_states(limit=1000) == sorted(
        [base, *(s for s in lookalikes if s not in ("doc*", "do?", "do[c]"))]
    )
    backend.delete_state(base)
    for sid in ("Doc", "doc:versions", "doc/1", "doc "):
        assert backend.get_state(sid) == {"who": sid}


# ------------------------------------------------------------ cascade delete
def test_delete_cascades_and_recreate_starts_clean(backend: StorageBackend) -> None:
    sid = "doc"
    old = standard_chain(sid, 1, 5, checkpoint_every=2)
    save_all(backend, old)
    snaps = [make_snapshot(sid, 2, expected_state(2)), make_snapshot(sid, 5, expected_state(5))]
    for snap in snaps:
        backend.save_snapshot(sid, snap)
    backend.set_state("doc2", {"keep": True})
    backend.delete_state(sid)
    assert not backend.exists(sid)
    assert backend.get_versions(sid) == []
    assert backend.list_snapshots(sid) == []
    assert backend.list_states() == ["doc2"]
    with pytest.raises(NotFoundError):
        backend.get_state(sid)
    with pytest.raises(NotFoundError):
        backend.get_version(sid, old[0].id)
    with pytest.raises(NotFoundError):
        backend.get_snapshot(sid, snaps[0].id)
    with pytest.raises(NotFoundError) as exc:
        backend.delete_state(sid)
    assert_not_found(exc, "state", sid)
    new = make_version(sid, 1, [{"op": "add", "path": "/fresh", "value": True}])
    backend.save_version(sid, new)
    assert backend.head_version(sid) == 1
    assert backend.get_state(sid) == {"fresh": True}
    assert backend.get_versions(sid) == [new]
    assert backend.get_version_history(sid) == [new]
    assert backend.list_snapshots(sid) == []
    assert backend.state_at(sid, 0) == {}
    for gone in old:
        with pytest.raises(NotFoundError):
            backend.get_version(sid, gone.id)
    with pytest.raises(NotFoundError):
        backend.get_snapshot(sid, snaps[1].id)
    assert backend.get_state("doc2") == {"keep": True}
