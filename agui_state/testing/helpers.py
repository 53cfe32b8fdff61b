"""Builders of versions, snapshots and histories for the conformance suite.

The histories are deterministic and their states have a closed form
(:func:`expected_state`), so expectations never depend on the patch engine
under test: version ``i`` sets ``/n`` to ``i``, appends ``i`` to ``/log`` and
toggles ``/odd`` (added on odd numbers, removed on even ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pytest

from agui_state.backends import StorageBackend
from agui_state.errors import ConflictError, NotFoundError
from agui_state.models import State, StateSnapshot, StateVersion, new_id, utcnow

Op = dict[str, Any]
Item = TypeVar("Item")
Cursor = TypeVar("Cursor")


def make_version(
    state_id: str,
    number: int,
    delta: list[Op] | None = None,
    *,
    parent_id: str | None = None,
    checkpoint: State | None = None,
    metadata: dict[str, Any] | None = None,
    timestamp: datetime | None = None,
    version_id: str | None = None,
) -> StateVersion:
    """Return a version with a fresh id and the current time unless given."""
    return StateVersion(
        id=version_id or new_id(),
        state_id=state_id,
        number=number,
        parent_id=parent_id,
        timestamp=timestamp or utcnow(),
        delta=delta if delta is not None else [],
        metadata=metadata if metadata is not None else {},
        checkpoint=checkpoint,
    )


def make_snapshot(
    state_id: str,
    version: int,
    state: State | None = None,
    *,
    snapshot_id: str | None = None,
    label: str | None = None,
    timestamp: datetime | None = None,
    metadata: dict[str, Any] | None = None,
) -> StateSnapshot:
    """Return a snapshot with a fresh id and the current time unless given."""
    return StateSnapshot(
        id=snapshot_id or new_id(),
        state_id=state_id,
        version=version,
        timestamp=timestamp or utcnow(),
        state=state if state is not None else {},
        label=label,
        metadata=metadata if metadata is not None else {},
    )


def expected_state(number: int) -> State:
    """The state of the standard history after version ``number``."""
    if number == 0:
        return {}
    state: State = {"n": number, "log": list(range(1, number + 1))}
    if number % 2:
        state["odd"] = number
    return state


def standard_delta(number: int) -> list[Op]:
    """The delta taking :func:`expected_state` ``number - 1`` to ``number``."""
    ops: list[Op] = []
    if number == 1:
        ops.append({"op": "add", "path": "/log", "value": []})
        ops.append({"op": "add", "path": "/n", "value": 1})
    else:
        ops.append({"op": "replace", "path": "/n", "value": number})
    ops.append({"op": "add", "path": "/log/-", "value": number})
    if number % 2:
        ops.append({"op": "add", "path": "/odd", "value": number})
    else:
        ops.append({"op": "remove", "path": "/odd"})
    return ops


def standard_chain(
    state_id: str,
    first: int,
    last: int,
    *,
    checkpoint_every: int | None = None,
    parent_id: str | None = None,
    checkpoint_first: bool = False,
) -> list[StateVersion]:
    """Versions ``first..last`` of the standard history, parent ids linked.

    Args:
        checkpoint_every: Versions whose number is a multiple carry a checkpoint.
        parent_id: Parent of ``first`` (None: unknown or version 1).
        checkpoint_first: ``first`` carries a checkpoint (opening a pruned history).
    """
    out: list[StateVersion] = []
    for number in range(first, last + 1):
        carries = (checkpoint_every is not None and number % checkpoint_every == 0) or (
            checkpoint_first and number == first
        )
        version = make_version(
            state_id,
            number,
            standard_delta(number),
            parent_id=parent_id,
            checkpoint=expected_state(number) if carries else None,
            metadata={"i": number},
        )
        out.append(version)
        parent_id = version.id
    return out


def save_all(
    backend: StorageBackend, versions: Sequence[StateVersion], *, batch: bool = False
) -> None:
    """Save ``versions`` one by one, or all in one transaction."""
    if not batch:
        for version in versions:
            backend.save_version(version.state_id, version)
        return
    with backend.begin_transaction() as tx:
        for version in versions:
            tx.save_version(version.state_id, version)


def numbers(versions: Sequence[StateVersion]) -> list[int]:
    """The version numbers, in the order given."""
    return [v.number for v in versions]


def append_with_retry(
    backend: StorageBackend, state_id: str, value: Any, max_tries: int = 10_000
) -> int:
    """Append ``value`` to ``/log`` as the next version, retrying on conflict.

    Returns:
        How many conflicts were met before the append went through.
    """
    for conflicts in range(max_tries):
        head = backend.head_version(state_id)
        version = make_version(
            state_id, head + 1, [{"op": "add", "path": "/log/-", "value": value}]
        )
        try:
            backend.save_version(state_id, version)
        except ConflictError:
            continue
        return conflicts
    raise AssertionError(
        f"append of {value!r} to {state_id!r} still conflicting after {max_tries} tries"
    )


def collect_pages(
    fetch: Callable[[Cursor | None], list[Item]],
    cursor: Callable[[Item], Cursor],
    *,
    page_size: int,
    max_items: int,
) -> list[Item]:
    """Follow a paged listing to its first empty page and return every item.

    Fails instead of looping forever when a backend's cursor makes no progress
    (e.g. ``after`` treated as inclusive), or a page exceeds ``page_size``.
    """
    out: list[Item] = []
    position: Cursor | None = None
    while page := fetch(position):
        assert len(page) <= page_size, f"page of {len(page)} items exceeds limit {page_size}"
        out.extend(page)
        assert len(out) <= max_items, f"paging does not end: {len(out)} items after {position!r}"
        position = cursor(page[-1])
    return out


def assert_not_found(
    exc: pytest.ExceptionInfo[NotFoundError], kind: str, state_id: str, item: Any = None
) -> None:
    """Check the attributes of a raised :class:`NotFoundError`."""
    assert exc.value.kind == kind
    assert exc.value.state_id == state_id
    assert exc.value.item_id == item
