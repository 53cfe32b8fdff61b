"""StateVersion / StateSnapshot: lossless, versioned dict shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agui_state.errors import ValidationError
from agui_state.models import FORMAT, StateSnapshot, StateVersion, new_id, utcnow


def _version(**kw: object) -> StateVersion:
    base: dict[str, object] = {
        "id": new_id(),
        "state_id": "thread-é",
        "number": 3,
        "parent_id": new_id(),
        "timestamp": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "delta": [{"op": "add", "path": "/a~1b", "value": [1, 2.5, None, True]}],
        "metadata": {"run_id": "r1", "nested": {"x": ["ü"]}},
    }
    base.update(kw)
    return StateVersion(**base)  # type: ignore[arg-type]


def test_version_round_trips_through_json() -> None:
    for version in (_version(), _version(checkpoint={"a/b": [1, 2.5]}), _version(parent_id=None)):
        data = json.loads(json.dumps(version.to_dict()))
        assert data["format"] == FORMAT and data["kind"] == "version"
        assert StateVersion.from_dict(data) == version
    assert "checkpoint" not in _version().to_dict()


def test_timestamp_keeps_microseconds_and_utc() -> None:
    version = _version()
    data = version.to_dict()
    assert data["timestamp"] == "2026-01-02T03:04:05.678901+00:00"
    assert StateVersion.from_dict(data).timestamp == version.timestamp


def test_snapshot_round_trips() -> None:
    snap = StateSnapshot(new_id(), "t", 0, utcnow(), {"k": {"v": 1.0}}, "start", {"by": "me"})
    data = json.loads(json.dumps(snap.to_dict()))
    assert data["kind"] == "snapshot"
    assert StateSnapshot.from_dict(data) == snap


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("id"), "version.id"),
        (lambda d: d.update(number=0), "version.number"),
        (lambda d: d.update(number="3"), "version.number"),
        (lambda d: d.update(number=True), "version.number"),
        (lambda d: d.update(timestamp="yesterday"), "version.timestamp"),
        (lambda d: d.update(delta={}), "version.delta"),
        (lambda d: d.update(format=99), "version.format"),
        (lambda d: d.update(kind="snapshot"), "version.kind"),
        (lambda d: d.update(checkpoint=[1]), "version.checkpoint"),
    ],
)
def test_bad_version_dicts_name_the_field(mutate: object, field: str) -> None:
    data = _version().to_dict()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ValidationError) as info:
        StateVersion.from_dict(data)
    assert info.value.field == field


def test_not_a_dict() -> None:
    with pytest.raises(ValidationError, match="expected a dict"):
        StateVersion.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="snapshot"):
        StateSnapshot.from_dict({"kind": "snapshot", "id": "x", "state_id": "t", "version": -1})


def test_with_and_without_checkpoint() -> None:
    version = _version()
    with_cp = version.with_checkpoint({"a": 1})
    assert with_cp.checkpoint == {"a": 1} and with_cp.id == version.id
    assert with_cp.without_checkpoint() == version
