"""The synchronous write of one version of a :class:`~agui_state.persistent.PersistentStateStore`.

Kept apart from :mod:`agui_state.persistent` so the store module holds only
the hooks and the public API; asynchronous writes go through
:mod:`agui_state.persistent.writer` instead.
"""

from __future__ import annotations

import logging

from agui_state.backends.base import StorageBackend
from agui_state.errors import ConflictError, StateError, StorageError
from agui_state.models import StateVersion
from agui_state.persistent.stats import WriteStats

__all__ = ["save_version", "stored_already"]


def save_version(
    backend: StorageBackend,
    state_id: str,
    version: StateVersion,
    stats: WriteStats,
    log: logging.Logger,
) -> None:
    """Write ``version`` to ``backend`` and count it in ``stats``.

    A failed write whose version is stored anyway (the acknowledgement was
    lost) counts as written.

    Raises:
        ConflictError: Another process wrote this state first.
        StorageError: The backend failed (other exceptions are wrapped).
    """
    try:
        backend.save_version(state_id, version)
    except Exception as exc:
        if not stored_already(backend, state_id, version):
            stats.record_error(exc)
            # A lost race is an expected outcome the caller handles (refresh
            # and retry); only real storage failures deserve a warning.
            level = logging.DEBUG if isinstance(exc, ConflictError) else logging.WARNING
            log.log(
                level,
                "state %r: version %d not persisted, write aborted: %s",
                state_id,
                version.number,
                exc,
            )
            if isinstance(exc, StateError):
                raise
            raise StorageError(f"unexpected {type(exc).__name__} while saving: {exc}") from exc
    stats.record_written(version.number)


def stored_already(backend: StorageBackend, state_id: str, version: StateVersion) -> bool:
    """Whether the backend holds ``version`` already (a lost acknowledgement)."""
    try:
        return backend.get_version(state_id, version.number).id == version.id
    except StateError:
        return False
