"""Validation of export dumps (the format is documented in :mod:`agui_state.migration`).

Internal module of the migration layer. :func:`parse_dump` checks a whole
dump before anything is written: the envelope, every version and snapshot
(through the models' own ``from_dict``), consecutive numbering, parent
links, pure JSON values, and that the deltas after the latest checkpoint
rebuild the current state. Each :class:`~agui_state.errors.ValidationError`
names the state and the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agui_state.backends.base import Checkpoint, validate_state_id
from agui_state.errors import CorruptDataError, ValidationError
from agui_state.models import State, StateSnapshot, StateVersion, replay
from agui_state.patch import check_json, json_equal

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "StateDump",
    "needs_checkpoint_write",
    "parse_dump",
    "pruned_to_zero",
]

EXPORT_FORMAT = "agui-state-export"
"""Value of the dump's ``"format"`` field."""

EXPORT_FORMAT_VERSION = 1
"""Value of the dump's ``"format_version"`` field this build writes and reads."""


@dataclass
class StateDump:
    """One validated state of a dump.

    Attributes:
        state_id: The state.
        head: Its newest version number.
        versions: Its versions, ascending and consecutive, ending at ``head``.
        snapshots: Its snapshots.
        checkpoint: The latest full state the source stored.
        head_state: The state at ``head`` when no version carries the
            checkpoint (it was stored with ``set_state``): written last as
            the destination's latest checkpoint. ``None`` otherwise.
        origin: The state at version 0: the dump's ``"origin"``, else the
            checkpoint's state when the checkpoint is at version 0, else
            ``{}``. Meaningless (and not written) for a pruned history.
    """

    state_id: str
    head: int
    versions: list[StateVersion]
    snapshots: list[StateSnapshot]
    checkpoint: Checkpoint
    head_state: State | None = None
    origin: State = field(default_factory=dict)


def needs_checkpoint_write(cp: Checkpoint, versions: Sequence[StateVersion]) -> bool:
    """Whether no version among ``versions`` carries the checkpoint at ``cp.version``."""
    for v in versions:
        if v.number == cp.version:
            return v.checkpoint is None
    return True


def pruned_to_zero(state_id: str, head: int) -> ValidationError:
    """The error for a history pruned to no version at all (head > 0)."""
    return ValidationError(
        f"state {state_id!r} versions",
        f"head is {head} but no version is left (history pruned to zero versions); "
        "such a state cannot be recreated with its version numbers",
    )


def parse_dump(dump: Any) -> list[StateDump]:
    """Validate a dump completely and return its states.

    Raises:
        ValidationError: Naming the state and the field at fault.
    """
    if not isinstance(dump, dict):
        raise ValidationError("dump", f"expected a dict, got {type(dump).__name__}")
    if dump.get("format") != EXPORT_FORMAT:
        raise ValidationError(
            "dump.format", f"expected {EXPORT_FORMAT!r}, got {dump.get('format')!r}"
        )
    fv = dump.get("format_version")
    if fv != EXPORT_FORMAT_VERSION or isinstance(fv, bool):
        raise ValidationError(
            "dump.format_version", f"unsupported {fv!r} (this build reads {EXPORT_FORMAT_VERSION})"
        )
    states = dump.get("states")
    if not isinstance(states, list):
        raise ValidationError("dump.states", "expected a list")
    out: list[StateDump] = []
    seen: set[str] = set()
    for i, raw in enumerate(states):
        sd = _parse_state(i, raw)
        if sd.state_id in seen:
            raise ValidationError(f"states[{i}].state_id", f"duplicate state {sd.state_id!r}")
        seen.add(sd.state_id)
        out.append(sd)
    return out


def _parse_state(i: int, raw: Any) -> StateDump:
    where = f"states[{i}]"
    if not isinstance(raw, dict):
        raise ValidationError(where, f"expected a dict, got {type(raw).__name__}")
    try:
        sid = validate_state_id(raw.get("state_id"))
    except ValidationError as exc:
        raise ValidationError(f"{where}.state_id", exc.reason) from exc
    where = f"state {sid!r}"

    def bad(fld: str, reason: str) -> ValidationError:
        return ValidationError(f"{where} {fld}", reason)

    head = raw.get("head")
    if isinstance(head, bool) or not isinstance(head, int) or head < 0:
        raise bad("head", f"must be a non-negative integer, got {head!r}")
    versions = _parse_items(raw.get("versions"), "versions", where, StateVersion.from_dict)
    snapshots = _parse_items(raw.get("snapshots", []), "snapshots", where, StateSnapshot.from_dict)

    ids: set[str] = set()
    for j, v in enumerate(versions):
        if v.state_id != sid:
            raise bad(f"versions[{j}].state_id", f"{v.state_id!r} does not match the state")
        if v.id in ids:
            raise bad(f"versions[{j}].id", f"duplicate version id {v.id!r}")
        ids.add(v.id)
        if j and v.number != versions[j - 1].number + 1:
            raise bad(
                f"versions[{j}].number",
                f"versions must be consecutive: {v.number} follows {versions[j - 1].number}",
            )
        if j and v.parent_id is not None and v.parent_id != versions[j - 1].id:
            raise bad(
                f"versions[{j}].parent_id", f"{v.parent_id!r} is not the previous version's id"
            )
    if versions and versions[-1].number != head:
        raise bad("head", f"{head} but the last version is {versions[-1].number}")
    if versions and versions[0].number > 1 and versions[0].checkpoint is None:
        raise bad(
            "versions[0].checkpoint",
            f"a history starting at version {versions[0].number} (pruned) needs a checkpoint on "
            "its first version",
        )
    if not versions and head > 0:
        raise pruned_to_zero(sid, head)

    cp = _parse_checkpoint(raw.get("checkpoint"), head, versions, bad)
    origin = _parse_origin(raw.get("origin"), cp, versions, bad)
    snap_ids: set[str] = set()
    for j, s in enumerate(snapshots):
        if s.state_id != sid:
            raise bad(f"snapshots[{j}].state_id", f"{s.state_id!r} does not match the state")
        if s.version > head:
            raise bad(f"snapshots[{j}].version", f"{s.version} is after the head {head}")
        if s.id in snap_ids:
            raise bad(f"snapshots[{j}].id", f"duplicate snapshot id {s.id!r}")
        snap_ids.add(s.id)

    # Pure JSON everywhere, so no backend fails half-way on an odd value.
    for j, v in enumerate(versions):
        _check_json_field(v.to_dict(), f"versions[{j}]", bad)
    for j, s in enumerate(snapshots):
        _check_json_field(s.to_dict(), f"snapshots[{j}]", bad)
    _check_json_field(cp.state, "checkpoint.state", bad)
    _check_json_field(origin, "origin", bad)
    # The deltas after the checkpoint must apply: they rebuild the current
    # state, stored as the latest checkpoint when no version carries it.
    head_state = None
    if cp.version > 0 and needs_checkpoint_write(cp, versions):
        try:
            head_state = replay(cp.state, [v for v in versions if v.number > cp.version], sid)
        except CorruptDataError as exc:
            raise bad(
                "versions", f"deltas after the checkpoint do not apply: {exc.reason}"
            ) from exc
    return StateDump(sid, head, versions, snapshots, cp, head_state, origin)


def _parse_items(
    raw: Any, name: str, where: str, parse: Callable[[dict[str, Any]], Any]
) -> list[Any]:
    if not isinstance(raw, list):
        raise ValidationError(f"{where} {name}", "expected a list")
    out = []
    for j, item in enumerate(raw):
        try:
            out.append(parse(item))
        except ValidationError as exc:
            raise ValidationError(f"{where} {name}[{j}] ({exc.field})", exc.reason) from exc
    return out


def _parse_checkpoint(
    raw: Any,
    head: int,
    versions: list[StateVersion],
    bad: Callable[[str, str], ValidationError],
) -> Checkpoint:
    if raw is None:
        # Lenient for hand-written dumps: derive it from the versions.
        carried = [v for v in versions if v.checkpoint is not None]
        if carried:
            return Checkpoint(carried[-1].number, carried[-1].checkpoint or {})
        return Checkpoint(0, {})
    if not isinstance(raw, dict):
        raise bad("checkpoint", "expected a dict with 'version' and 'state'")
    number = raw.get("version")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= head:
        raise bad("checkpoint.version", f"must be an integer in 0..{head}, got {number!r}")
    state = raw.get("state")
    if not isinstance(state, dict):
        raise bad("checkpoint.state", "must be a JSON object")
    if versions and number < versions[0].number - 1:
        raise bad(
            "checkpoint.version",
            f"{number} is older than the oldest version {versions[0].number}: the versions "
            "between are missing",
        )
    return Checkpoint(number, state)


def _parse_origin(
    raw: Any,
    cp: Checkpoint,
    versions: list[StateVersion],
    bad: Callable[[str, str], ValidationError],
) -> State:
    """The state at version 0; ``"origin"`` is optional (absent: see :class:`StateDump`)."""
    if raw is None:
        return cp.state if cp.version == 0 else {}
    if not isinstance(raw, dict):
        raise bad("origin", "must be a JSON object")
    if versions and versions[0].number > 1:
        raise bad(
            "origin",
            f"given for a history pruned to start at version {versions[0].number}: "
            "version 0 is gone with the versions before it",
        )
    if cp.version == 0 and not json_equal(raw, cp.state):
        raise bad("origin", "differs from the checkpoint at version 0 (both are version 0)")
    return raw


def _check_json_field(value: Any, fld: str, bad: Callable[[str, str], ValidationError]) -> None:
    try:
        check_json(value)
    except ValidationError as exc:
        raise bad(f"{fld}{exc.field if exc.field != '/' else ''}", exc.reason) from exc
