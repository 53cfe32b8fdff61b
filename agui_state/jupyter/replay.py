"""Walking a state's stored history forward, one version at a time.

:func:`walk` yields ``(version, before, after)`` for each stored version,
oldest first, starting from the state just before the oldest stored version
(the origin when the history starts at version 1). Only two documents are
held at a time, and since :func:`agui_state.patch.apply_patch` shares every
untouched subtree, each step costs O(delta), not O(document): replaying 100k
versions of a 1 MB state is linear in the number of versions. A version that
carries a checkpoint is taken as it is (it is the stored truth), so a walk
never replays more than the deltas between two checkpoints from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from agui_state.errors import NotFoundError
from agui_state.jupyter.source import StateSource
from agui_state.models import State, StateVersion, replay

__all__ = ["Step", "apply_delta", "start", "walk", "walk_where"]


class Step(NamedTuple):
    """One version and the documents on either side of it."""

    version: StateVersion
    before: State
    after: State


def apply_delta(state_id: str, doc: Any, version: StateVersion) -> Any:
    """Apply one stored version's delta (the package's one :func:`~agui_state.models.replay`).

    Raises:
        CorruptDataError: The stored delta does not apply (names state and version).
    """
    return replay(doc, [version], state_id)


def start(src: StateSource, state_id: str) -> tuple[int, State]:
    """Return ``(n, document at n)`` where a forward walk of the stored history starts.

    ``n`` is the version just before the oldest stored one (0 when nothing
    was pruned). After pruning, the state before the oldest stored version is
    gone: the walk then starts at the oldest stored version itself (its
    checkpoint), so that version's own change is not seen.
    """
    first = src.first_version(state_id)
    if first is None:
        return src.head_version(state_id), src.get_state(state_id)
    try:
        return first.number - 1, src.state_at(state_id, first.number - 1)
    except NotFoundError:
        if first.checkpoint is not None:
            return first.number, first.checkpoint
        return first.number, src.state_at(state_id, first.number)


def walk(src: StateSource, state_id: str, until: int | None = None) -> Iterator[Step]:
    """Yield a :class:`Step` per stored version of ``state_id`` up to ``until`` (default: head)."""
    base, doc = start(src, state_id)
    for version in src.iter_versions(state_id, after=base, until=until):
        after = version.checkpoint
        if after is None:
            after = apply_delta(state_id, doc, version)
        yield Step(version, doc, after)
        doc = after


def walk_where(
    src: StateSource, state_id: str, wanted: Callable[[StateVersion], bool]
) -> Iterator[Step]:
    """Yield a :class:`Step` for each stored version ``wanted`` accepts, oldest first.

    Deltas of the other versions are replayed only when a wanted version
    needs the document before it; a checkpoint met first replaces them. So a
    path that changes less often than once per checkpoint interval costs
    little more than reading the versions, and at most one checkpoint
    interval of deltas is ever held.
    """
    base, doc = start(src, state_id)
    pending: list[StateVersion] = []
    for version in src.iter_versions(state_id, after=base):
        if wanted(version):
            for skipped in pending:
                doc = apply_delta(state_id, doc, skipped)
            pending.clear()
            after = version.checkpoint
            if after is None:
                after = apply_delta(state_id, doc, version)
            yield Step(version, doc, after)
            doc = after
        elif version.checkpoint is not None:
            pending.clear()
            doc = version.checkpoint
        else:
            pending.append(version.without_checkpoint())
