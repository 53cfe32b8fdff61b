"""The synchronous write of one version of a :class:`~agui_state.persistent.PersistentStateStore`.

Kept apart from :mod:`agui_state.persistent` so the store module holds only
the hooks and the public API; asynchronous writes go through
:mod:`agui_state.persistent.writer` instead.

A write that fails may still be stored: the connection can break after the
backend committed and before its reply arrived. The outcome is decided by
the version's id, which is unique: if the stored version at our number
carries our id, the write landed and the call succeeds. Only when the
backend cannot be asked is the outcome unknown; then the caller gets a
:class:`~agui_state.errors.WriteOutcomeUnknownError` and must check again
before its next write (:func:`probe_stored`). Never "not persisted" about a
write that may be stored.
"""

from __future__ import annotations

import logging
import time

from agui_state.backends.base import StorageBackend
from agui_state.errors import (
    ConflictError,
    NotFoundError,
    StateError,
    StorageError,
    WriteOutcomeUnknownError,
)
from agui_state.models import StateVersion
from agui_state.persistent.stats import WriteStats

__all__ = ["probe_stored", "save_version"]

# Pauses between attempts to ask the backend about a failed write: a broken
# pooled connection is usually replaced at once, a restarting server takes
# longer; after these, the outcome is reported as unknown.
_PROBE_PAUSES = (0.0, 0.05, 0.2)


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
        WriteOutcomeUnknownError: The write failed and the backend cannot be
            asked whether it stored the version.
        StorageError: The backend failed and the version is not stored
            (other exceptions are wrapped).
    """
    try:
        backend.save_version(state_id, version)
    except Exception as exc:
        try:
            stored = probe_stored(backend, state_id, version)
        except StateError as probe_exc:
            stats.record_error(exc)
            log.warning(
                "state %r: outcome of version %d unknown (write failed: %s; check failed: %s); "
                "the next write checks it",
                state_id,
                version.number,
                exc,
                probe_exc,
            )
            raise WriteOutcomeUnknownError(
                state_id, version.number, version.id, f"{exc}; checking it failed: {probe_exc}"
            ) from exc
        if not stored:
            stats.record_error(exc)
            # A lost race is an expected outcome the caller handles (refresh
            # and retry); only real storage failures deserve a warning.
            level = logging.DEBUG if isinstance(exc, ConflictError) else logging.WARNING
            log.log(
                level,
                "state %r: version %d not stored (checked), write aborted: %s",
                state_id,
                version.number,
                exc,
            )
            if isinstance(exc, StateError):
                raise
            raise StorageError(f"unexpected {type(exc).__name__} while saving: {exc}") from exc
        log.info(
            "state %r: version %d is stored although its write reported %s",
            state_id,
            version.number,
            type(exc).__name__,
        )
    stats.record_written(version.number)


def probe_stored(backend: StorageBackend, state_id: str, version: StateVersion) -> bool:
    """Whether the backend holds ``version`` (same id at its number).

    Asks a few times, with short pauses, before giving up.

    Raises:
        StateError: The backend could not answer (the outcome is unknown).
    """
    error: StateError | None = None
    for pause in _PROBE_PAUSES:
        if pause:
            time.sleep(pause)
        try:
            return backend.get_version(state_id, version.number).id == version.id
        except NotFoundError:
            return False
        except StateError as exc:
            error = exc
        except Exception as exc:  # a backend broke its contract: the outcome is unknown
            error = StorageError(f"unexpected {type(exc).__name__}: {exc}")
    assert error is not None
    raise error
