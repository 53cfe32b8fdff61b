"""The machinery of :func:`agui_state.migration.migrate`: plan, copy, verify.

Kept apart from :mod:`agui_state.migration`, which holds the public
functions and the documented dump format. Each state is first planned
(:func:`plan_state` checks the destination against the source), then copied
page by page (:func:`copy_state`), then verified (:func:`verify_state`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agui_state.backends.base import StorageBackend, Write
from agui_state.errors import (
    ConfigError,
    ConflictError,
    CorruptDataError,
    NotFoundError,
    StateError,
    StorageError,
)
from agui_state.migration.dump import pruned_to_zero
from agui_state.migration.writes import (
    missing_snapshots,
    read_checkpoint,
    read_origin,
    state_writes,
)
from agui_state.models import State
from agui_state.patch import json_equal

__all__ = [
    "Copied",
    "Plan",
    "ProgressCallback",
    "copy_state",
    "plan_state",
    "progress_reporter",
    "verify_state",
]

ProgressCallback = Callable[[int, int, str], None]
"""Called as ``progress(done, total, state_id)``, counting versions."""


def progress_reporter(progress: bool | ProgressCallback) -> tuple[ProgressCallback | None, Any]:
    """Return (callback, tqdm bar or None) for the ``progress`` argument."""
    if progress is False or progress is None:
        return None, None
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError as exc:
            raise ConfigError(
                "progress", "progress=True needs tqdm: pip install 'agui-state[jupyter]'"
            ) from exc
        bar = tqdm(total=0, unit="version", desc="migrate")

        def update(done: int, total: int, state_id: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(state_id[:40], refresh=False)
            bar.refresh()

        return update, bar
    if callable(progress):
        return progress, None
    raise ConfigError("progress", f"expected a bool or a callable, got {type(progress).__name__}")


@dataclass
class Plan:
    """What to copy of one state: its heads in both backends and the version count."""

    state_id: str
    src_head: int
    dst_head: int | None
    to_copy: int


def plan_state(src: StorageBackend, dst: StorageBackend, sid: str) -> Plan:
    """Check a state's destination against the source; decide what to copy."""
    src_head = src.head_version(sid)
    dst_head = dst.read_head(sid)
    if dst_head is None:
        first = src.get_versions(sid, limit=1)
        start = first[0].number - 1 if first else src_head
        return Plan(sid, src_head, None, src_head - start)
    if dst_head > src_head:
        raise ConflictError(sid, src_head, dst_head, "the destination is ahead of the source")
    if dst_head == 0:
        first = src.get_versions(sid, limit=1)
        if first and first[0].number > 1:
            raise ConflictError(
                sid, 0, 0, "the destination has an empty state but the source history is pruned"
            )
        src_base = read_origin(src, sid, read_checkpoint(src, sid))
        if not json_equal(dst.get_state(sid), src_base):
            raise ConflictError(sid, 0, 0, "destination and source differ at version 0")
    else:
        try:
            theirs = src.get_version(sid, dst_head).id
        except NotFoundError:
            raise ConflictError(
                sid,
                dst_head,
                src_head,
                f"the source no longer has version {dst_head} (pruned): cannot compare",
            ) from None
        mine = dst.get_version(sid, dst_head).id
        if mine != theirs:
            raise ConflictError(
                sid,
                dst_head,
                dst_head,
                f"version {dst_head} is {mine!r} in the destination, {theirs!r} in the source",
            )
    return Plan(sid, src_head, dst_head, src_head - dst_head)


@dataclass
class Copied:
    """What :func:`copy_state` wrote for one state.

    Attributes:
        versions: Versions written.
        snapshots: Snapshots written.
        done: Versions written so far over the whole migration (for progress).
    """

    versions: int
    snapshots: int
    done: int

    def up_to_date(self, plan: Plan) -> bool:
        """Whether the destination already held the state completely."""
        return not self.versions and plan.dst_head is not None


def copy_state(
    src: StorageBackend,
    dst: StorageBackend,
    plan: Plan,
    batch_size: int,
    done: int,
    total: int,
    callback: ProgressCallback | None,
) -> Copied:
    """Copy the versions and snapshots ``plan`` says the destination lacks.

    Args:
        src: The source backend.
        dst: The destination backend.
        plan: From :func:`plan_state`.
        batch_size: Versions (or snapshots) per destination transaction.
        done: Versions copied so far by the migration.
        total: Versions the migration copies in all.
        callback: Progress callback, called after each page.

    Raises:
        ValidationError: The source history is pruned to zero versions.
        CorruptDataError: A pruned source history opens without a checkpoint.
        StorageError: A backend failed, or source versions vanished.
    """
    sid = plan.state_id
    cp = read_checkpoint(src, sid)
    opening = plan.dst_head is None
    after = plan.dst_head or 0
    copied = 0
    if opening and plan.src_head > 0 and not src.get_versions(sid, limit=1):
        raise pruned_to_zero(sid, plan.src_head)
    # A checkpoint the source stored with set_state (not carried by a version)
    # is recreated by storing the state at the head in the last batch.
    explicit_cp = 0 < cp.version <= plan.src_head and not _carried_by_version(src, sid, cp.version)
    while opening or after < plan.src_head:
        page = [
            v
            for v in src.get_versions(sid, after=after, limit=batch_size)
            if v.number <= plan.src_head
        ]
        if opening and page and page[0].number > 1 and page[0].checkpoint is None:
            raise CorruptDataError(
                f"state {sid!r} version {page[0].number}",
                "the oldest stored version of a pruned history carries no checkpoint",
            )
        if not page and not opening:
            raise StorageError(
                f"state {sid!r}: source versions after {after} vanished during migration"
            )
        last = not page or page[-1].number >= plan.src_head
        head_state = src.state_at(sid, plan.src_head) if last and explicit_cp else None
        origin = read_origin(src, sid, cp) if opening and (not page or page[0].number == 1) else {}
        writes = state_writes(
            sid, origin, page, opening=opening, head_state=head_state, head=plan.src_head
        )
        if writes:
            # One transaction per page: an interruption leaves a clean prefix
            # of the history, which the next run continues from.
            dst.write_batch(writes)
        opening = False
        copied += len(page)
        done += len(page)
        if page:
            after = page[-1].number
        if callback is not None:
            callback(done, total, sid)
        if last:
            break
    missing = missing_snapshots(dst, sid, src.list_snapshots(sid))
    for start in range(0, len(missing), batch_size):
        dst.write_batch([Write.of_snapshot(sid, s) for s in missing[start : start + batch_size]])
    result = Copied(versions=copied, snapshots=len(missing), done=done)
    if result.up_to_date(plan) and callback is not None:
        callback(done, total, sid)
    return result


def _carried_by_version(src: StorageBackend, sid: str, number: int) -> bool:
    """Whether the source's version ``number`` carries a checkpoint."""
    try:
        return src.get_version(sid, number).checkpoint is not None
    except NotFoundError:
        return False


def verify_state(src: StorageBackend, dst: StorageBackend, sid: str, page_size: int) -> None:
    """Check that a state is identical in both backends, or raise StorageError naming it."""
    src_head, dst_head = src.head_version(sid), dst.read_head(sid)
    if dst_head != src_head:
        raise StorageError(
            f"verification failed for state {sid!r}: head {dst_head} != source head {src_head}"
        )
    after, count = 0, 0
    while True:
        a = src.get_versions(sid, after=after, limit=page_size)
        b = dst.get_versions(sid, after=after, limit=page_size)
        if [(v.number, v.id) for v in a] != [(v.number, v.id) for v in b]:
            raise StorageError(
                f"verification failed for state {sid!r}: versions after {after} differ "
                f"({len(b)} in the destination page, {len(a)} in the source page)"
            )
        count += len(a)
        if len(a) < page_size:
            break
        after = a[-1].number
    failed = f"verification failed for state {sid!r}"
    ns, nd = len(src.list_snapshots(sid)), len(dst.list_snapshots(sid))
    if ns != nd:
        raise StorageError(f"{failed}: {nd} snapshots in the destination, {ns} in the source")
    try:
        same = json_equal(src.get_state(sid), dst.get_state(sid))
        # Version 0 is the origin, or None in both when pruned.
        same_origin = json_equal(_version_zero(src, sid), _version_zero(dst, sid))
    except StateError as exc:
        raise StorageError(f"{failed}: {exc}") from exc
    if not same:
        raise StorageError(f"{failed}: current state differs ({count} versions compared)")
    if not same_origin:
        raise StorageError(f"{failed}: the state at version 0 (its origin) differs")


def _version_zero(backend: StorageBackend, sid: str) -> State | None:
    """``state_at(0)``, or None when version 0 is pruned."""
    try:
        return backend.state_at(sid, 0)
    except NotFoundError:
        return None
