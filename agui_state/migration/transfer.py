"""Export, import and backend-to-backend migration of whole states.

Export dump format
==================

:func:`export_data` returns a plain, JSON-serializable dict (``json.dumps``
it as is). It carries each state's **full history**, not only its current
value, so an import restores exactly what was exported: version ids, numbers,
timestamps, metadata, checkpoints and snapshots::

    {
      "format": "agui-state-export",       # always this string
      "format_version": 1,                 # bumped on any incompatible change
      "exported_at": "2024-05-01T12:00:00.000000+00:00",
      "states": [
        {
          "state_id": "thread-1",
          "head": 42,                      # newest version number (0: no versions)
          "versions": [ ... ],             # StateVersion.to_dict(), ascending, consecutive,
                                           # ending at head; a pruned history starts at k > 1
                                           # and its first version carries a "checkpoint"
          "snapshots": [ ... ],            # StateSnapshot.to_dict()
          "checkpoint": {"version": 40, "state": { ... }},
                                           # the backend's latest full state and its version
          "origin": { ... }                # optional: the state at version 0
        }
      ]
    }

``"origin"`` is the state's content at version 0, as given by a ``set_state``
that created it (see :mod:`agui_state.backends.base`). Export writes it only
when it is not ``{}`` and the history still starts at version 1 (pruning
version 1 drops version 0 too). Absent means: the checkpoint's state when
the checkpoint is at version 0, else ``{}``, so dumps written before the
field existed read as they did. It is optional, hence ``format_version``
stays 1. A dump giving it for a pruned history, or one that differs from a
checkpoint at version 0, is invalid.

The version and snapshot dicts are the stored shape documented in
:mod:`agui_state.models`.

Import and migration rules
==========================

* :func:`import_data` validates the whole dump (format, field types, version
  numbering, JSON values, conflicts with existing states) **before writing
  anything**; errors are :class:`~agui_state.errors.ValidationError` naming
  the state and the field. Each state is then written in one backend
  transaction, so a state is imported completely or not at all.
* Import and migration restore the origin with a ``set_state`` at head 0 in
  the same transaction as the first versions, so ``state_at`` answers the
  same in the destination, version 0 included.
* :func:`migrate` copies states between any two backends in transactions of
  ``batch_size`` versions. It is idempotent and resumable: a destination that
  already holds a prefix of a state's history (same version id at its head)
  receives only the versions after it; a destination whose history diverges is
  a :class:`~agui_state.errors.ConflictError`. It verifies the result
  (heads, version ids, snapshot counts, current state and origin).

A history pruned to zero versions (``prune_history(keep_last=0)``) has a head
above zero but no version left to carry that number; the storage contract
cannot recreate it, so import and migration refuse it with a
:class:`~agui_state.errors.ValidationError` rather than renumbering it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agui_state.backends import create_backend
from agui_state.backends.base import StorageBackend, Write, validate_state_id
from agui_state.config import StorageConfig
from agui_state.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from agui_state.migration.copying import (
    ProgressCallback,
    copy_state,
    plan_state,
    progress_reporter,
    verify_state,
)
from agui_state.migration.dump import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, StateDump, parse_dump
from agui_state.migration.writes import (
    missing_snapshots,
    read_checkpoint,
    read_origin,
    state_writes,
)
from agui_state.models import utcnow
from agui_state.patch import json_equal
from agui_state.store.limits import StoreLimits

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "BackendLike",
    "ImportReport",
    "MigrationReport",
    "ProgressCallback",
    "export_data",
    "import_data",
    "migrate",
]

BackendLike = StorageBackend | StorageConfig | str
"""A backend instance, a configuration, or a backend URL."""


@dataclass
class ImportReport:
    """What :func:`import_data` did.

    Attributes:
        imported: States written (created, or replaced with ``overwrite``).
        skipped: States already present and identical (same head, same head id).
        versions_written: Versions written in total.
        snapshots_written: Snapshots written in total (including snapshots
            added to skipped states that lacked them).
    """

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    versions_written: int = 0
    snapshots_written: int = 0


@dataclass
class MigrationReport:
    """What :func:`migrate` did.

    Attributes:
        states: Every state considered, in order.
        copied: States that received versions (or were created).
        up_to_date: States the destination already held completely.
        versions_copied: Versions written to the destination.
        snapshots_copied: Snapshots written to the destination.
        verified: Heads, version ids and snapshot counts were checked equal.
    """

    states: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    versions_copied: int = 0
    snapshots_copied: int = 0
    verified: bool = False


# ---------------------------------------------------------------------- export
def check_state_ids(state_ids: Any) -> list[str] | None:
    """Return ``state_ids`` as a list of validated ids (``None`` stays ``None``).

    Raises:
        ValidationError: A single string (it would be read as its characters),
            a non-iterable, or an invalid id.
    """
    if state_ids is None:
        return None
    if isinstance(state_ids, (str, bytes)) or not isinstance(state_ids, Iterable):
        raise ValidationError(
            "state_ids",
            f"must be an iterable of state ids (e.g. a list), got {type(state_ids).__name__}",
        )
    return [validate_state_id(sid) for sid in state_ids]


def export_data(backend: BackendLike, state_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """Dump states with their full history and snapshots (format: module docstring).

    Args:
        backend: Where to read from (a backend, a configuration or a URL;
            URLs and configurations are opened and closed here).
        state_ids: States to export (an iterable of ids, not a single
            string); ``None`` exports every state.

    Returns:
        A JSON-serializable dict.

    Raises:
        ValidationError: ``state_ids`` is not an iterable of state ids.
        NotFoundError: A requested state does not exist.
        StorageError: The backend failed.
    """
    wanted = check_state_ids(state_ids)
    source, owned = _open(backend, "backend")
    try:
        ids = list(source.iter_states()) if wanted is None else wanted
        states = [_export_state(source, sid) for sid in ids]
    finally:
        if owned:
            source.close()
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": utcnow().isoformat(timespec="microseconds"),
        "states": states,
    }


def _export_state(backend: StorageBackend, state_id: str) -> dict[str, Any]:
    # Checkpoint first, then versions: a write landing in between only adds
    # versions after the checkpoint, so the dump stays self-consistent.
    cp = read_checkpoint(backend, state_id)
    versions = backend.get_versions(state_id)
    head = versions[-1].number if versions else backend.head_version(state_id)
    out: dict[str, Any] = {
        "state_id": state_id,
        "head": head,
        "versions": [v.to_dict() for v in versions],
        "snapshots": [s.to_dict() for s in backend.list_snapshots(state_id)],
        "checkpoint": {"version": cp.version, "state": cp.state},
    }
    if (versions[0].number == 1 if versions else head == 0) and (
        origin := read_origin(backend, state_id, cp)
    ):
        out["origin"] = origin
    return out


# ---------------------------------------------------------------------- import
def import_data(
    backend: BackendLike,
    dump: Any,
    *,
    overwrite: bool = False,
    limits: StoreLimits | None = None,
) -> ImportReport:
    """Restore an :func:`export_data` dump into ``backend``.

    The dump is verified before anything is written: each state is replayed
    from its first version with the store's own write checks, every
    checkpoint is compared with the replayed document, every value checked
    against ``limits`` (see :mod:`agui_state._dump`). A state that fails is
    not written at all.

    Args:
        backend: Where to write (a backend, a configuration or a URL).
        dump: The dict produced by :func:`export_data` (possibly through JSON).
        overwrite: Replace states that already exist with different content
            (each is deleted, then written).
        limits: The limits the states must respect to be opened (default:
            the store's default limits).

    Returns:
        What was imported or skipped.

    Raises:
        ValidationError: The dump is malformed (names the state and field);
            nothing was written.
        ConflictError: A state already exists with different content and
            ``overwrite`` is false; nothing was written.
        StorageError: The backend failed; states written before the failure
            stay, the failing state is not written at all (with
            ``overwrite``, its previous content was already deleted: the
            storage contract has no delete inside a write batch).
    """
    if not isinstance(overwrite, bool):
        raise ValidationError("overwrite", f"must be True or False, got {overwrite!r}")
    if limits is not None and not isinstance(limits, StoreLimits):
        raise ValidationError("limits", f"must be a StoreLimits, got {type(limits).__name__}")
    parsed = parse_dump(dump, limits)
    target, owned = _open(backend, "backend")
    try:
        return _import(target, parsed, overwrite)
    finally:
        if owned:
            target.close()


def _import(backend: StorageBackend, parsed: list[StateDump], overwrite: bool) -> ImportReport:
    plan: list[tuple[StateDump, str]] = []
    for sd in parsed:
        plan.append((sd, _import_action(backend, sd, overwrite)))
    report = ImportReport()
    for sd, action in plan:
        if action == "skip":
            missing = missing_snapshots(backend, sd.state_id, sd.snapshots)
            if missing:
                backend.write_batch([Write.of_snapshot(sd.state_id, s) for s in missing])
            report.snapshots_written += len(missing)
            report.skipped.append(sd.state_id)
            continue
        if action == "replace":
            backend.delete_state(sd.state_id)
        writes = state_writes(
            sd.state_id,
            sd.origin,
            sd.versions,
            opening=True,
            head_state=sd.head_state,
            head=sd.head,
        )
        writes += [Write.of_snapshot(sd.state_id, s) for s in sd.snapshots]
        backend.write_batch(writes)
        report.imported.append(sd.state_id)
        report.versions_written += len(sd.versions)
        report.snapshots_written += len(sd.snapshots)
    return report


def _import_action(backend: StorageBackend, sd: StateDump, overwrite: bool) -> str:
    """Return ``"create"``, ``"skip"`` or ``"replace"`` for one dumped state."""
    try:
        head = backend.head_version(sd.state_id)
    except NotFoundError:
        return "create"
    if head == sd.head:
        if head == 0:
            same = json_equal(backend.get_state(sd.state_id), sd.checkpoint.state)
        else:
            try:
                same = backend.get_version(sd.state_id, head).id == sd.versions[-1].id
            except NotFoundError:
                same = False
        if same:
            return "skip"
    if overwrite:
        return "replace"
    raise ConflictError(
        sd.state_id,
        sd.head,
        head,
        "the state already exists with different content; pass overwrite=True to replace it",
    )


# --------------------------------------------------------------------- migrate
def _open(target: BackendLike, role: str) -> tuple[StorageBackend, bool]:
    """Return (backend, owned): URLs and configs are opened (and owned) here."""
    if isinstance(target, StorageBackend):
        return target, False
    if isinstance(target, (str, StorageConfig)):
        return create_backend(target), True
    raise ConfigError(
        role, f"expected a backend, a StorageConfig or a URL, got {type(target).__name__}"
    )


def migrate(
    source: BackendLike,
    destination: BackendLike,
    state_ids: Iterable[str] | None = None,
    *,
    progress: bool | ProgressCallback = False,
    batch_size: int = 500,
) -> MigrationReport:
    """Copy states with their history and snapshots from one backend to another.

    Idempotent and resumable: run it again after an interruption and it
    copies only what is missing. Backends given as URLs or configurations are
    opened and closed here; backend instances are left open.

    Args:
        source: Backend (or URL / config) to read.
        destination: Backend (or URL / config) to write.
        state_ids: States to copy; ``None`` copies every state of the source.
        progress: ``True`` shows a tqdm progress bar; a callable is called as
            ``progress(done, total, state_id)`` counting versions.
        batch_size: Versions written per destination transaction.

    Returns:
        What was copied, with ``verified`` set.

    Raises:
        ConflictError: A destination state's history diverges from the
            source's (different version id at the same number) or is ahead.
        StorageError: A backend failed, or verification found a difference
            (the message names the state).
        ConfigError: An argument is invalid, or tqdm is missing for ``progress=True``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
    callback, bar = progress_reporter(progress)
    src, own_src = _open(source, "source")
    try:
        dst, own_dst = _open(destination, "destination")
    except BaseException:
        if own_src:
            src.close()
        raise
    try:
        wanted = check_state_ids(state_ids)
        ids = list(src.iter_states()) if wanted is None else wanted
        plans = [plan_state(src, dst, sid) for sid in ids]
        total = sum(p.to_copy for p in plans)
        report = MigrationReport(states=list(ids))
        done = 0
        for plan in plans:
            copied = copy_state(src, dst, plan, batch_size, done, total, callback)
            done = copied.done
            report.versions_copied += copied.versions
            report.snapshots_copied += copied.snapshots
            if copied.up_to_date(plan):
                report.up_to_date.append(plan.state_id)
            else:
                report.copied.append(plan.state_id)
        for sid in ids:
            verify_state(src, dst, sid, batch_size)
        report.verified = True
        return report
    finally:
        if bar is not None:
            bar.close()
        try:
            if own_dst:
                dst.close()
        finally:
            if own_src:
                src.close()
