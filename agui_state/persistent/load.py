"""Loading a :class:`~agui_state.persistent.PersistentStateStore` back from its backend.

Kept apart from :mod:`agui_state.persistent` so the store module holds only
the write path and the public API; these functions take what they need and
know nothing of the store's locks or queue.
"""

from __future__ import annotations

import logging

from agui_state.backends.base import StorageBackend
from agui_state.errors import CorruptDataError, NotFoundError
from agui_state.store.state_store import StateStore

__all__ = ["head_id", "load_from_backend"]


def load_from_backend(
    backend: StorageBackend,
    store: StateStore,
    max_history: int | None,
    log: logging.Logger,
) -> bool:
    """Replace ``store``'s memory with the state, recent history and snapshots in ``backend``.

    Args:
        backend: Where the state is stored.
        store: The in-memory store to reload (its ``state_id`` names the state).
        max_history: Versions to keep in memory (``None``: all).
        log: Where to report a state repaired with ``set_state``.

    Returns:
        Whether the backend holds the state; if not, ``store`` now holds an
        empty state at version 0.

    Raises:
        CorruptDataError: The oldest kept version of a pruned history carries
            no checkpoint.
        StorageError: The backend failed.
    """
    sid = store.state_id
    try:
        head = backend.head_version(sid)
    except NotFoundError:
        store.load_history(0, {}, [])
        return False
    after = 0 if max_history is None else max(head - max_history, 0)
    versions = backend.get_versions(sid, after=after)
    if versions:
        base = versions[0].number - 1
        try:
            base_state = backend.state_at(sid, base)
        except NotFoundError:
            # Pruned history: the state before the oldest kept version is
            # gone, but that version carries its own full state.
            first = versions[0]
            if first.checkpoint is None:
                raise CorruptDataError(
                    f"state {sid!r} version {first.number}",
                    "oldest kept version has no checkpoint and its base was pruned",
                ) from None
            base, base_state, versions = first.number, first.checkpoint, versions[1:]
    else:
        base, base_state = head, backend.get_state(sid)
    snapshots = backend.list_snapshots(sid)
    # Links the next version's parent_id to the stored head.
    stored_head_id = versions[-1].id if versions else head_id(backend, sid, head)
    store.load_history(base, base_state, versions, snapshots, head_id=stored_head_id)
    if versions:
        # The backend's current state is the truth. A set_state repair at
        # the head changes it without a version, so the replayed history
        # can disagree: then start from the stored state, without the
        # in-memory window (history stays readable from the backend).
        current = backend.get_state(sid)
        if store.get_state() != current:
            log.info(
                "state %r was set directly at version %d; history kept in the backend only",
                sid,
                head,
            )
            store.load_history(head, current, [], snapshots, head_id=stored_head_id)
    return True


def head_id(backend: StorageBackend, state_id: str, head: int) -> str | None:
    """Id of the stored head version (None: no versions, or pruned)."""
    if head == 0:
        return None
    try:
        return backend.get_version(state_id, head).id
    except NotFoundError:
        return None
