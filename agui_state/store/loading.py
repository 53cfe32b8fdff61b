"""Validating a history handed to :meth:`StateStore.load_history`.

Internal module of the store layer. Persistence layers resume a store from
storage with a base state and the versions after it. Everything is checked
as if it were written now (shape, consecutive numbers, limits) and replayed;
a delta that does not apply, or a stored checkpoint that disagrees with the
replayed state, means the stored data is damaged
(:class:`~agui_state.errors.CorruptDataError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from agui_state.errors import (
    CorruptDataError,
    InvalidPathError,
    LimitExceededError,
    PatchError,
    ValidationError,
)
from agui_state.models import State, StateSnapshot, StateVersion
from agui_state.patch import json_equal
from agui_state.store.apply import apply_prepared, prepare_patch
from agui_state.store.cadence import Cadence
from agui_state.store.jsonutil import copy_json, json_size
from agui_state.store.limits import StoreOptions, check_metadata, check_state

__all__ = ["Loaded", "load"]


class Loaded(NamedTuple):
    """A validated history, ready to be published by the store."""

    base_number: int
    base_state: State
    versions: list[StateVersion]  # the kept window, checkpoints as the cadence says
    state: State
    size: int
    head: int
    head_id: str | None
    snapshots: dict[str, StateSnapshot]
    cadence: Cadence  # where the checkpoint cadence stands after the head


def load(
    state_id: str,
    options: StoreOptions,
    base_version: Any,
    base_state: Any,
    versions: Sequence[Any],
    snapshots: Sequence[Any],
    head_id: str | None = None,
) -> Loaded:
    """Validate and replay a loaded history (see ``StateStore.load_history``).

    Raises:
        ValidationError: Bad arguments, versions not consecutive or of another state.
        CorruptDataError: A delta does not apply, or a checkpoint disagrees.
        LimitExceededError: A limit is exceeded.
    """
    if isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 0:
        raise ValidationError("base_version", f"must be an integer >= 0, got {base_version!r}")
    limits = options.limits
    size = check_state(base_state, limits, "base_state")
    state: State = copy_json(base_state)
    head = base_version + len(versions)
    window = options.max_history
    first_kept = base_version + 1 if window is None else max(base_version + 1, head - window + 1)
    base_number, base = base_version, state
    kept: list[StateVersion] = []
    cadence = Cadence(options)
    cadence.reset(base_version)
    for index, version in enumerate(versions):
        entry, applied_state, size = _replay_one(
            state_id, options, cadence, index, base_version + 1 + index, version, state, size
        )
        state = applied_state
        if entry.number < first_kept:
            base_number, base = entry.number, state
        else:
            kept.append(entry)
    size = json_size(state)  # authoritative full recomputation
    if size > limits.max_state_bytes:
        raise LimitExceededError("max_state_bytes", size, limits.max_state_bytes)
    loaded: dict[str, StateSnapshot] = {}
    for index, snap in enumerate(snapshots):
        if not isinstance(snap, StateSnapshot) or snap.state_id != state_id:
            raise ValidationError(
                f"snapshots[{index}]", f"must be a StateSnapshot of state {state_id!r}"
            )
        check_state(snap.state, limits, f"snapshots[{index}].state")
        meta = check_metadata(snap.metadata, limits, f"snapshots[{index}].metadata")
        loaded[snap.id] = StateSnapshot(
            snap.id, state_id, snap.version, snap.timestamp, copy_json(snap.state), snap.label, meta
        )
    head_id = versions[-1].id if versions else head_id
    return Loaded(base_number, base, kept, state, size, head, head_id, loaded, cadence)


def _replay_one(
    state_id: str,
    options: StoreOptions,
    cadence: Cadence,
    index: int,
    expected: int,
    version: Any,
    state: State,
    size: int,
) -> tuple[StateVersion, State, int]:
    """Validate and apply one loaded version; return its kept copy, the state and size after."""
    if not isinstance(version, StateVersion):
        raise ValidationError(
            f"versions[{index}]", f"must be a StateVersion, got {type(version).__name__}"
        )
    if version.state_id != state_id:
        raise ValidationError(
            f"versions[{index}].state_id", f"{version.state_id!r} is not {state_id!r}"
        )
    if version.number != expected:
        raise ValidationError(
            f"versions[{index}].number",
            f"expected {expected}, got {version.number} (versions must be consecutive)",
        )
    limits = options.limits
    meta = check_metadata(version.metadata, limits, f"versions[{index}].metadata")
    where = f"state {state_id!r} version {version.number}"
    try:
        ops = prepare_patch(version.delta, limits)
        applied = apply_prepared(state, size, ops, limits)
    except (PatchError, InvalidPathError) as exc:
        raise CorruptDataError(where, f"stored delta does not apply: {exc}") from exc
    if version.checkpoint is not None and not json_equal(version.checkpoint, applied.state):
        raise CorruptDataError(where, "its checkpoint differs from the state its deltas give")
    # Checkpoints are normalized to this store's cadence, whatever the writer
    # of the stored history used: the same rule as a write (store/cadence.py).
    is_checkpoint, pending = cadence.decide(version.number, applied.ops, applied.size)
    cadence.commit(version.number, is_checkpoint, pending)
    entry = StateVersion(
        version.id,
        state_id,
        version.number,
        version.parent_id,
        version.timestamp,
        applied.ops,
        meta,
        applied.state if is_checkpoint else None,
    )
    return entry, applied.state, applied.size
