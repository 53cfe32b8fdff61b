"""AG-UI events out: versions as ``STATE_DELTA``, states as ``STATE_SNAPSHOT``, SSE.

Events carry ``metadata = {"agui_state": {"version": N}}`` (the version the
state is at after the event) so a client can tell where it is in the
history, e.g. to resume a stream. ``timestamp`` is epoch milliseconds: the
version's commit time for deltas.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from agui_state.agui._sdk import (
    PROTOCOL_VERSION,
    EventEncoder,
    RunFinishedEvent,
    RunStartedEvent,
    StateDeltaEvent,
    StateSnapshotEvent,
    to_epoch_ms,
)
from agui_state.agui._types import Source, StoreLike
from agui_state.agui.wire import parse_any
from agui_state.backends.base import StorageBackend
from agui_state.errors import ValidationError
from agui_state.models import State, StateVersion, utcnow

__all__ = [
    "aencode_sse",
    "encode_sse",
    "run_finished_event",
    "run_started_event",
    "snapshot_event",
    "version_to_event",
]

VERSION_METADATA_KEY = "agui_state"
"""Key of our own entry in an event's ``metadata``."""


def _version_metadata(number: int) -> dict[str, Any]:
    return {VERSION_METADATA_KEY: {"version": number}}


def version_to_event(version: StateVersion) -> StateDeltaEvent:
    """Return the ``STATE_DELTA`` event of one version.

    Args:
        version: A committed version.

    Returns:
        An event whose ``delta`` is the version's RFC 6902 patch.
    """
    return StateDeltaEvent.model_validate(
        {
            "type": "STATE_DELTA",
            "delta": version.delta,
            "timestamp": to_epoch_ms(version.timestamp),
            "metadata": _version_metadata(version.number),
        }
    )


def state_snapshot_event(
    state: State, version: int, timestamp_ms: int | None = None
) -> StateSnapshotEvent:
    """Return a ``STATE_SNAPSHOT`` event of ``state`` at ``version``."""
    return StateSnapshotEvent.model_validate(
        {
            "type": "STATE_SNAPSHOT",
            "snapshot": state,
            "timestamp": to_epoch_ms(utcnow()) if timestamp_ms is None else timestamp_ms,
            "metadata": _version_metadata(version),
        }
    )


def consistent_state(store: StoreLike) -> tuple[int, State]:
    """Read ``(version, state)`` of a store as one consistent pair.

    ``version`` and ``get_state()`` are two reads; a commit between them
    would pair a state with the wrong number. Versions only grow, so equal
    numbers before and after the state read prove the pair is consistent.
    """
    for _ in range(8):
        before = store.version
        state = store.get_state()
        if store.version == before:
            return before, state
    # Under a write storm, fall back to time travel, consistent by definition.
    number = store.version
    return number, store.state_at(number)


def resolve_source(
    source: Source, state_id: str | None
) -> tuple[StorageBackend | None, StoreLike | None, str]:
    """Split a source into (backend, store, state id), checking the state id."""
    if isinstance(source, StorageBackend):
        if state_id is None:
            raise ValidationError("state_id", "required when reading from a storage backend")
        return source, None, state_id
    if state_id is not None and state_id != source.state_id:
        raise ValidationError(
            "state_id", f"{state_id!r} does not match the store's state {source.state_id!r}"
        )
    return None, source, source.state_id


def snapshot_event(
    source: Source, state_id: str | None = None, version: int | None = None
) -> StateSnapshotEvent:
    """Return a ``STATE_SNAPSHOT`` of the current state, or of the state at a version.

    Args:
        source: A store, or a storage backend (then ``state_id`` is required).
        state_id: The state to read (optional for a store; must match it).
        version: Version number to show (default: the current one).

    Returns:
        The snapshot event; its metadata names the version shown.

    Raises:
        ValidationError: ``state_id`` missing for a backend, or not the store's.
        NotFoundError: The state or version does not exist.
    """
    backend, store, sid = resolve_source(source, state_id)
    if backend is not None:
        if version is None:
            number = backend.head_version(sid)
            state = backend.state_at(sid, number)
        else:
            number, state = version, backend.state_at(sid, version)
    else:
        assert store is not None
        if version is None:
            number, state = consistent_state(store)
        else:
            number, state = version, store.state_at(version)
    return state_snapshot_event(state, number)


def run_started_event(
    thread_id: str, run_id: str, timestamp_ms: int | None = None
) -> RunStartedEvent:
    """Return a ``RUN_STARTED`` event declaring the SDK's protocol version."""
    return RunStartedEvent(
        thread_id=thread_id,
        run_id=run_id,
        protocol_version=PROTOCOL_VERSION,
        timestamp=to_epoch_ms(utcnow()) if timestamp_ms is None else timestamp_ms,
    )


def run_finished_event(
    thread_id: str, run_id: str, timestamp_ms: int | None = None
) -> RunFinishedEvent:
    """Return a ``RUN_FINISHED`` event."""
    return RunFinishedEvent(
        thread_id=thread_id,
        run_id=run_id,
        timestamp=to_epoch_ms(utcnow()) if timestamp_ms is None else timestamp_ms,
    )


def encode_sse(events: Iterable[Any]) -> Iterator[str]:
    """Encode events as Server-Sent Events frames with the SDK's ``EventEncoder``.

    Each frame is ``"data: {json}\\n\\n"`` with camelCase keys; serve them with
    ``EventEncoder().get_content_type()`` (``text/event-stream``).

    Args:
        events: SDK events, wire dicts or JSON texts (the latter are validated).

    Yields:
        One SSE frame per event.

    Raises:
        ValidationError: A dict or text is not a valid AG-UI event.
    """
    encoder = EventEncoder()
    for event in events:
        yield encoder.encode(parse_any(event))


async def aencode_sse(events: AsyncIterable[Any]) -> AsyncIterator[str]:
    """Async counterpart of :func:`encode_sse` (e.g. over :func:`astream_events`).

    Returns an async iterator of SSE frames, ready for a streaming response.
    """
    encoder = EventEncoder()
    async for event in events:
        yield encoder.encode(parse_any(event))
