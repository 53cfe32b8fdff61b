"""The one place the AG-UI SDK (``ag-ui-protocol``) is imported.

Importing :mod:`agui_state.agui` imports this module; ``import agui_state``
does not, so the SDK stays an optional extra. A missing SDK is reported as a
:class:`~agui_state.errors.ConfigError` with the install hint, not as a bare
``ImportError`` from deep inside the package.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agui_state.errors import ConfigError

INSTALL_HINT = "pip install 'agui-state[agui]'"

try:
    from ag_ui.core import (
        PROTOCOL_VERSION,
        BaseEvent,
        EventType,
        RunAgentInput,
        RunErrorEvent,
        RunFinishedEvent,
        RunStartedEvent,
        StateDeltaEvent,
        StateSnapshotEvent,
    )
    from ag_ui.encoder import EventEncoder
    from pydantic import ValidationError as PydanticValidationError
except ImportError as exc:  # pragma: no cover - exercised by a test that hides the SDK
    raise ConfigError(
        "ag-ui-protocol",
        f"the AG-UI SDK is not installed; install the extra: {INSTALL_HINT}",
    ) from exc

__all__ = [
    "CONSUMED_MODELS",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "INSTALL_HINT",
    "PROTOCOL_VERSION",
    "BaseEvent",
    "EventEncoder",
    "EventType",
    "PydanticValidationError",
    "RunAgentInput",
    "RunErrorEvent",
    "RunFinishedEvent",
    "RunStartedEvent",
    "StateDeltaEvent",
    "StateSnapshotEvent",
    "to_epoch_ms",
]

EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
"""Every wire ``type`` the installed SDK knows."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _models_by_type() -> dict[str, type[BaseEvent]]:
    # The generated event classes each narrow ``type`` to one EventType
    # default; index them by it so a wire dict validates against its own
    # class (errors then name the field, not a union branch).
    out: dict[str, type[BaseEvent]] = {}
    for cls in BaseEvent.__subclasses__():
        field = cls.model_fields.get("type")
        default = field.default if field is not None else None
        if isinstance(default, EventType):
            out[default.value] = cls
    return out


EVENT_MODELS: dict[str, type[BaseEvent]] = _models_by_type()
"""The SDK model class of every wire ``type``."""

CONSUMED_MODELS: dict[str, type[BaseEvent]] = {
    t: EVENT_MODELS[t]
    for t in ("STATE_DELTA", "STATE_SNAPSHOT", "RUN_STARTED", "RUN_FINISHED", "RUN_ERROR")
}
"""The event types this package reads fields from, and their SDK models.

Only these are validated field by field; other types are recognised by their
``type`` and passed over (or to a callback) untouched.
"""


def to_epoch_ms(ts: datetime) -> int:
    """Return an aware datetime as integer milliseconds since the Unix epoch.

    AG-UI ``timestamp`` fields are integers; every SDK that sets one uses
    epoch milliseconds. Integer arithmetic on a timedelta avoids float drift.
    """
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - _EPOCH) // timedelta(milliseconds=1)
