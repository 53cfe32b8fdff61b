"""Conformance checks: reading absent data, version numbering, replay,
lossless round trips and history paging.

Collected by :mod:`agui_state.testing.suite`; see :mod:`agui_state.testing`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from agui_state.backends import StorageBackend
from agui_state.errors import (
    ConflictError,
    NotFoundError,
    ValidationError,
)
from agui_state.models import StateVersion, new_id
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
    standard_delta,
)


# ----------------------------------------------------------------- not found
def test_absent_state_reads(backend: StorageBackend) -> None:
    sid = "absent"
    assert not backend.exists(sid)
    for call in (
        backend.get_state,
        backend.head_version,
        backend.get_version_history,
        backend.delete_state,
    ):
        with pytest.raises(NotFoundError) as exc:
            call(sid)
        assert_not_found(exc, "state", sid)
    with pytest.raises(NotFoundError) as exc:
        backend.state_at(sid, 0)
    assert_not_found(exc, "state", sid)
    with pytest.raises(NotFoundError) as exc:
        backend.prune_history(sid, 1)
    assert_not_found(exc, "state", sid)
    with pytest.raises(NotFoundError) as exc:
        backend.get_version(sid, 1)
    assert_not_found(exc, "version", sid, 1)
    with pytest.raises(NotFoundError) as exc:
        backend.get_version(sid, "some-version-id")
    assert_not_found(exc, "version", sid, "some-version-id")
    with pytest.raises(NotFoundError) as exc:
        backend.get_snapshot(sid, "some-snapshot-id")
    assert_not_found(exc, "snapshot", sid, "some-snapshot-id")
    assert backend.get_versions(sid) == []
    assert backend.list_snapshots(sid) == []
    assert backend.list_states() == []
    # Reads never create anything.
    assert not backend.exists(sid)


def test_absent_items_of_existing_state(backend: StorageBackend) -> None:
    sid = "present"
    save_all(backend, standard_chain(sid, 1, 2))
    other = make_version("other", 1)
    backend.save_version("other", other)
    assert backend.exists(sid)
    for missing in (0, 3, 99, -1):
        with pytest.raises(NotFoundError) as exc:
            backend.get_version(sid, missing)
        assert_not_found(exc, "version", sid, missing)
    with pytest.raises(NotFoundError) as exc:
        backend.get_version(sid, "no-such-id")
    assert_not_found(exc, "version", sid, "no-such-id")
    # Version ids are looked up within their own state only.
    with pytest.raises(NotFoundError) as exc:
        backend.get_version(sid, other.id)
    assert_not_found(exc, "version", sid, other.id)
    with pytest.raises(NotFoundError) as exc:
        backend.get_snapshot(sid, "no-such-snapshot")
    assert_not_found(exc, "snapshot", sid, "no-such-snapshot")
    for bad in (True, 1.5, None, [1]):
        with pytest.raises(ValidationError):
            backend.get_version(sid, bad)  # type: ignore[arg-type]


# ------------------------------------------------------- version numbering
@durability_check
def test_version_one_creates_the_state(backend: StorageBackend) -> None:
    sid = "doc"
    (v1,) = standard_chain(sid, 1, 1)
    backend.save_version(sid, v1)
    assert backend.exists(sid)
    assert backend.head_version(sid) == 1
    assert backend.get_state(sid) == expected_state(1)
    assert backend.get_versions(sid) == [v1]
    assert backend.list_states() == [sid]


def test_first_version_must_be_one(backend: StorageBackend) -> None:
    sid = "doc"
    for number in (0, 2, 5):
        with pytest.raises(ConflictError) as exc:
            backend.save_version(
                sid, make_version(sid, number, [{"op": "add", "path": "/a", "value": 1}])
            )
        assert exc.value.state_id == sid
        assert not backend.exists(sid)
    assert backend.list_states() == []


def test_gap_and_duplicate_conflict_and_write_nothing(backend: StorageBackend) -> None:
    sid = "doc"
    chain = standard_chain(sid, 1, 3)
    save_all(backend, chain[:2])
    gap = make_version(sid, 4, standard_delta(3), parent_id=chain[1].id)
    duplicate = make_version(
        sid, 2, [{"op": "add", "path": "/dup", "value": True}], parent_id=chain[0].id
    )
    stale = make_version(sid, 1, [{"op": "add", "path": "/dup", "value": True}])
    for bad in (gap, duplicate, stale):
        with pytest.raises(ConflictError) as exc:
            backend.save_version(sid, bad)
        assert exc.value.state_id == sid
        assert exc.value.actual in (2, None)
        assert backend.head_version(sid) == 2
        assert backend.get_versions(sid) == chain[:2]
        assert backend.get_state(sid) == expected_state(2)
        with pytest.raises(NotFoundError):
            backend.get_version(sid, bad.id)
    backend.save_version(sid, chain[2])
    assert backend.get_versions(sid) == chain
    assert backend.get_state(sid) == expected_state(3)


def test_version_state_id_must_match(backend: StorageBackend) -> None:
    with pytest.raises(ValidationError):
        backend.save_version("a", make_version("b", 1))
    with pytest.raises(ValidationError):
        backend.save_snapshot("a", make_snapshot("b", 0))
    with pytest.raises(ValidationError):
        backend.set_state("a", ["not", "an", "object"])  # type: ignore[arg-type]
    assert backend.list_states() == []


@pytest.mark.parametrize("every", [None, 1, 4], ids=["no-checkpoints", "cp-every-1", "cp-every-4"])
def test_get_state_and_state_at_replay(backend: StorageBackend, every: int | None) -> None:
    sid = "doc"
    chain = standard_chain(sid, 1, 13, checkpoint_every=every)
    for version in chain:
        backend.save_version(sid, version)
        assert backend.get_state(sid) == expected_state(version.number)
    assert backend.head_version(sid) == 13
    for n in range(0, 14):
        assert backend.state_at(sid, n) == expected_state(n), f"state_at({n})"
    for n in (14, -1):
        with pytest.raises(NotFoundError) as exc:
            backend.state_at(sid, n)
        assert_not_found(exc, "version", sid, n)


def test_checkpoint_is_authoritative(backend: StorageBackend) -> None:
    # A version's checkpoint *is* the state after it: get_state starts from the
    # latest checkpoint and replays only the versions after it.
    sid = "doc"
    v1 = make_version(sid, 1, [{"op": "add", "path": "/a", "value": 1}])
    v2 = make_version(
        sid,
        2,
        [{"op": "add", "path": "/b", "value": 2}],
        parent_id=v1.id,
        checkpoint={"a": 1, "b": 2, "from": "checkpoint"},
    )
    v3 = make_version(sid, 3, [{"op": "add", "path": "/c", "value": 3}], parent_id=v2.id)
    save_all(backend, [v1, v2, v3])
    assert backend.get_state(sid) == {"a": 1, "b": 2, "from": "checkpoint", "c": 3}
    assert backend.state_at(sid, 3) == {"a": 1, "b": 2, "from": "checkpoint", "c": 3}
    assert backend.state_at(sid, 2) == {"a": 1, "b": 2, "from": "checkpoint"}
    assert backend.state_at(sid, 1) == {"a": 1}
    assert backend.state_at(sid, 0) == {}


def test_state_at_is_stable_for_a_state_created_by_set_state(backend: StorageBackend) -> None:
    # state_at(n) must be what get_state returned when the head was n, forever.
    sid = "doc"
    backend.set_state(sid, {"initial": True})
    seen = [backend.get_state(sid)]
    for number in range(1, 5):
        checkpoint = {**seen[-1], f"k{number}": number} if number == 3 else None
        delta = [{"op": "add", "path": f"/k{number}", "value": number}]
        backend.save_version(sid, make_version(sid, number, delta, checkpoint=checkpoint))
        seen.append(backend.get_state(sid))
    assert [backend.state_at(sid, n) for n in range(5)] == seen


def test_get_version_by_number_and_id(backend: StorageBackend) -> None:
    sid = "doc"
    chain = standard_chain(sid, 1, 5, checkpoint_every=2)
    save_all(backend, chain)
    for version in chain:
        assert backend.get_version(sid, version.number) == version
        assert backend.get_version(sid, version.id) == version
    assert backend.get_version(sid, 1).parent_id is None
    for prev, version in itertools.pairwise(chain):
        assert backend.get_version(sid, version.number).parent_id == prev.id
    assert [v.checkpoint is not None for v in backend.get_versions(sid)] == [
        False,
        True,
        False,
        True,
        False,
    ]


# -------------------------------------------------------------- round trip
@durability_check
def test_lossless_round_trip(backend: StorageBackend) -> None:
    sid = "round-trip ü"
    ts = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
    metadata = {
        "run_id": "run-1",
        "ünïcødé": "日本語 😀 \t\n\u2028",
        "nested": {"list": [1, None, {"deep": [True, False]}], "empty": {}, "empty_list": []},
        "none": None,
        "float": 1.5,
        "negative": -7,
        "big": 2**53,
        "escaped": 'quote" backslash\\ slash/',
    }
    delta: list[dict[str, Any]] = [
        {"op": "add", "path": "/ünï~1cøde", "value": {"x": [1, 2.25, "three", None]}},
        {"op": "add", "path": "/a~0b", "value": "tilde"},
        {"op": "add", "path": "/list", "value": []},
        {"op": "add", "path": "/list/0", "value": "😀"},
        {"op": "copy", "from": "/list", "path": "/copy"},
        {"op": "test", "path": "/a~0b", "value": "tilde"},
    ]
    checkpoint = {
        "ünï/cøde": {"x": [1, 2.25, "three", None]},
        "a~b": "tilde",
        "list": ["😀"],
        "copy": ["😀"],
    }
    v1 = make_version(sid, 1, delta, metadata=metadata, timestamp=ts, checkpoint=checkpoint)
    # A timestamp given in another zone is the same instant.
    other_tz = datetime(2024, 3, 1, 1, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    v2 = make_version(
        sid, 2, [{"op": "remove", "path": "/copy"}], parent_id=v1.id, timestamp=other_tz
    )
    save_all(backend, [v1, v2])
    for got, want in zip(backend.get_versions(sid), [v1, v2], strict=True):
        assert got == want
        assert got.to_dict() == want.to_dict()
        assert got.timestamp.utcoffset() == timedelta(0)
    got1 = backend.get_version(sid, v1.id)
    assert got1.timestamp.microsecond == 123456
    assert got1.metadata == metadata
    assert got1.delta == delta
    assert got1.checkpoint == checkpoint
    assert backend.get_version_history(sid) == [v2, v1]
    expected = dict(checkpoint)
    del expected["copy"]
    assert backend.get_state(sid) == expected

    snap = make_snapshot(
        sid,
        2,
        expected,
        label="léabel 😀",
        timestamp=ts,
        metadata={"who": None, "n": [1, {"k": "v"}]},
    )
    unlabelled = make_snapshot(sid, 1, checkpoint, label=None, timestamp=other_tz)
    backend.save_snapshot(sid, snap)
    backend.save_snapshot(sid, unlabelled)
    assert backend.get_snapshot(sid, snap.id) == snap
    assert backend.get_snapshot(sid, snap.id).to_dict() == snap.to_dict()
    assert backend.get_snapshot(sid, unlabelled.id) == unlabelled
    assert backend.list_snapshots(sid) == [unlabelled, snap]


def test_stored_values_are_copies(backend: StorageBackend) -> None:
    sid = "doc"
    state: dict[str, Any] = {"items": [1, 2], "meta": {"k": "v"}}
    backend.set_state(sid, state)
    state["items"].append(3)
    version = make_version(sid, 1, [{"op": "add", "path": "/x", "value": [1]}], metadata={"m": [1]})
    backend.save_version(sid, version)
    version.delta[0]["value"].append(2)
    version.metadata["m"].append(2)
    got = backend.get_state(sid)
    assert got == {"items": [1, 2], "meta": {"k": "v"}, "x": [1]}
    got["items"].clear()
    assert backend.get_state(sid) == {"items": [1, 2], "meta": {"k": "v"}, "x": [1]}
    stored = backend.get_version(sid, 1)
    assert stored.delta == [{"op": "add", "path": "/x", "value": [1]}]
    assert stored.metadata == {"m": [1]}


# ------------------------------------------------------- history and paging
def test_history_newest_first_and_paging(backend: StorageBackend) -> None:
    sid = "doc"
    chain = standard_chain(sid, 1, 25)
    save_all(backend, chain)
    assert numbers(backend.get_version_history(sid)) == list(range(25, 0, -1))
    assert backend.get_version_history(sid) == chain[::-1]
    assert numbers(backend.get_version_history(sid, limit=10)) == list(range(25, 15, -1))
    assert numbers(backend.get_version_history(sid, limit=3, before=16)) == [15, 14, 13]
    assert backend.get_version_history(sid, limit=0) == []
    assert backend.get_version_history(sid, limit=5, before=1) == []
    assert numbers(backend.get_version_history(sid, limit=100, before=3)) == [2, 1]
    assert numbers(backend.get_version_history(sid, before=1000)) == list(range(25, 0, -1))
    for size in (1, 7, 25):

        def history_page(before: int | None, size: int = size) -> list[StateVersion]:
            return backend.get_version_history(sid, limit=size, before=before)

        pages = collect_pages(
            history_page,
            lambda v: v.number,
            page_size=size,
            max_items=25,
        )
        assert numbers(pages) == list(range(25, 0, -1)), f"paging by {size}"
    assert numbers(backend.get_versions(sid)) == list(range(1, 26))
    assert numbers(backend.get_versions(sid, after=20)) == [21, 22, 23, 24, 25]
    assert numbers(backend.get_versions(sid, after=3, limit=4)) == [4, 5, 6, 7]
    assert backend.get_versions(sid, after=3, limit=0) == []
    assert backend.get_versions(sid, after=25) == []


@pytest.mark.slow
def test_thousand_versions_order_numerically(backend: StorageBackend) -> None:
    sid = "big"
    last = 1005
    save_all(backend, standard_chain(sid, 1, last, checkpoint_every=100), batch=True)
    assert backend.head_version(sid) == last
    assert numbers(backend.get_version_history(sid, limit=12)) == list(range(last, last - 12, -1))
    assert numbers(backend.get_version_history(sid, limit=3, before=101)) == [100, 99, 98]
    assert numbers(backend.get_version_history(sid, limit=3, before=11)) == [10, 9, 8]
    assert numbers(backend.get_version_history(sid, limit=3, before=1001)) == [1000, 999, 998]
    assert numbers(backend.get_versions(sid, after=8, limit=3)) == [9, 10, 11]
    assert numbers(backend.get_versions(sid, after=98, limit=4)) == [99, 100, 101, 102]
    assert numbers(backend.get_versions(sid, after=998, limit=4)) == [999, 1000, 1001, 1002]
    assert numbers(backend.get_versions(sid)) == list(range(1, last + 1))
    pages = collect_pages(
        lambda before: backend.get_version_history(sid, limit=100, before=before),
        lambda v: v.number,
        page_size=100,
        max_items=last,
    )
    assert numbers(pages) == list(range(last, 0, -1))
    assert backend.get_state(sid) == expected_state(last)
    for n in (0, 9, 10, 99, 100, 101, 999, 1000, 1001, last):
        assert backend.state_at(sid, n) == expected_state(n), f"state_at({n})"
    assert backend.get_version(sid, 100).number == 100
    assert backend.get_version(sid, 1000).checkpoint == expected_state(1000)


def test_version_and_snapshot_ids_roundtrip_exactly(backend: StorageBackend) -> None:
    sid = "ids"
    odd_ids = ["v-ü-😀", "v/1", "v:1", "v*?[]", "{v}", "V", "v", new_id()]
    parent = None
    versions: list[StateVersion] = []
    for n, vid in enumerate(odd_ids, start=1):
        version = make_version(
            sid, n, [{"op": "add", "path": f"/k{n}", "value": n}], parent_id=parent, version_id=vid
        )
        backend.save_version(sid, version)
        versions.append(version)
        parent = vid
    for version in versions:
        assert backend.get_version(sid, version.id) == version
    for snap_id in odd_ids:
        backend.save_snapshot(
            sid, make_snapshot(sid, 1, {"k1": 1}, snapshot_id=snap_id, label=snap_id)
        )
    for snap_id in odd_ids:
        assert backend.get_snapshot(sid, snap_id).label == snap_id
    assert sorted(s.id for s in backend.list_snapshots(sid)) == sorted(odd_ids)


def test_nul_and_control_characters_in_values(backend: StorageBackend) -> None:
    # JSON allows any character in strings (and keys), including NUL: stored
    # values must come back exactly (PostgreSQL JSONB, for one, cannot hold NUL).
    sid = "nul"
    text = "a\x00b\x01c\x1f\ud7ff\ue000\U0010ffff"
    version = make_version(
        sid, 1, [{"op": "add", "path": "/k\x00ey", "value": text}], metadata={"m\x00": text}
    )
    backend.save_version(sid, version)
    assert backend.get_version(sid, 1) == version
    assert backend.get_state(sid) == {"k\x00ey": text}
    snap = make_snapshot(sid, 1, {"k\x00ey": text}, label=text, metadata={"x": text})
    backend.save_snapshot(sid, snap)
    assert backend.get_snapshot(sid, snap.id) == snap
    backend.set_state(sid, {"s": text})
    assert backend.get_state(sid) == {"s": text}
