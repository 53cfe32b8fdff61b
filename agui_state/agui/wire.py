"""Reading AG-UI events off the wire, strictly, and writing them back.

Incoming events are SDK model objects or their wire form: a dict (or a JSON
text) with camelCase keys, e.g. ``{"type": "STATE_DELTA", "delta": [...]}``.
:func:`read_event` checks one and returns an :class:`IncomingEvent`; every
problem becomes one of our errors naming the field:

* an unknown or missing ``type`` -> :class:`~agui_state.errors.ValidationError`
  (field ``type``);
* a snake_case key in a wire dict (``thread_id``, ``snap_shot``) ->
  ``ValidationError`` naming the key. The SDK's models accept Python
  attribute names too (``populate_by_name``), so a producer that serialised
  without ``by_alias`` would otherwise slip through and be rejected by every
  other AG-UI client;
* a missing or mistyped field -> ``ValidationError`` naming
  ``<TYPE>.<field>``;
* a malformed ``STATE_DELTA`` operation (unknown ``op``, a ``path`` that is
  not a JSON Pointer, a missing ``value``/``from``) ->
  :class:`~agui_state.errors.PatchError` with the operation's index, op and
  path.

Only the event types this package reads fields from (``STATE_SNAPSHOT``,
``STATE_DELTA``, ``RUN_STARTED``, ``RUN_FINISHED``, ``RUN_ERROR``) are checked
field by field. Other known types are recognised by ``type`` alone and passed
over, so a slightly-off text or tool event in a recording never stops state
from being replayed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agui_state.agui._sdk import (
    CONSUMED_MODELS,
    EVENT_MODELS,
    EVENT_TYPES,
    BaseEvent,
    PydanticValidationError,
)
from agui_state.errors import PatchError, StateError, ValidationError, short_repr
from agui_state.models import Operation, State

__all__ = ["IncomingEvent", "decode_json", "read_event", "to_wire"]

STATE_TYPES = frozenset({"STATE_SNAPSHOT", "STATE_DELTA"})

# State events carry no run context in AG-UI 1.0, but some producers attach
# it; accept these two camelCase extras and use them when present.
_CONTEXT_KEYS = {"runId": "run_id", "threadId": "thread_id"}

_OPS = ("add", "remove", "replace", "move", "copy", "test")


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One checked incoming event, in plain Python values.

    Attributes:
        type: The wire ``type`` (e.g. ``"STATE_DELTA"``).
        model: The validated SDK model, for consumed types; ``None`` for
            types that are only recognised.
        delta: The RFC 6902 operations of a ``STATE_DELTA`` (plain dicts).
        snapshot: The state of a ``STATE_SNAPSHOT``.
        run_id: ``runId`` carried by the event itself, if any.
        thread_id: ``threadId`` carried by the event itself, if any.
        timestamp: The event's ``timestamp`` (epoch ms), if any.
        metadata: The event's own ``metadata`` object, if any.
        subagent_run_id: The event's ``subagentRunId``, if any.
    """

    type: str
    model: BaseEvent | None = None
    delta: list[Operation] | None = None
    snapshot: State | None = None
    run_id: str | None = None
    thread_id: str | None = None
    timestamp: int | None = None
    metadata: dict[str, Any] | None = None
    subagent_run_id: str | None = None


def to_wire(event: BaseEvent) -> dict[str, Any]:
    """Return an SDK event as its JSON-ready wire dict (camelCase keys).

    Optional fields without a value are left out, as the SDK does on the wire.
    """
    data: dict[str, Any] = event.model_dump(mode="json", by_alias=True)
    return data


def decode_json(value: Any, field: str) -> Any:
    """Return ``value`` decoded when it is JSON text (str or bytes), else ``value`` itself.

    Raises:
        ValidationError: Naming ``field``: the text is not valid JSON.
    """
    if isinstance(value, (str, bytes, bytearray)):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValidationError(field, f"not valid JSON: {exc}") from exc
    return value


def read_event(event: Any) -> IncomingEvent:
    """Check one incoming event and return it as an :class:`IncomingEvent`.

    Args:
        event: An SDK event object, a wire dict, or the JSON text of one.

    Raises:
        ValidationError: Unknown/missing ``type``, snake_case wire keys, a
            missing or mistyped field, a snapshot that is not a JSON object.
        PatchError: A ``STATE_DELTA`` operation is malformed.
    """
    strict_keys = True
    event = decode_json(event, "event")
    if isinstance(event, BaseEvent):
        # Objects may legitimately have been built with attribute names; dump
        # them to the wire form so both inputs take one checked path.
        data = event.model_dump(by_alias=True)
        data["type"] = _type_value(data.get("type"))
        strict_keys = False
    elif isinstance(event, Mapping):
        data = dict(event)
    else:
        raise ValidationError(
            "event",
            f"expected an AG-UI event object or its wire dict, got {type(event).__name__}",
        )
    event_type = _check_type(data)
    model_cls = CONSUMED_MODELS.get(event_type)
    if model_cls is None:
        return IncomingEvent(type=event_type)
    if strict_keys:
        _check_camel_case(event_type, data, model_cls)
    try:
        model = model_cls.model_validate(data)
    except PydanticValidationError as exc:
        raise _map_error(event_type, exc, data) from exc
    return _normalise(event_type, model, data)


def _type_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _check_type(data: dict[str, Any]) -> str:
    if "type" not in data:
        raise ValidationError("type", "missing: every AG-UI event carries a 'type'")
    event_type = _type_value(data["type"])
    if not isinstance(event_type, str):
        raise ValidationError("type", f"must be a string, got {short_repr(event_type)}")
    if event_type not in EVENT_TYPES:
        hint = ""
        squashed = event_type.replace("_", "").replace("-", "").lower()
        for known in EVENT_TYPES:
            if known.replace("_", "").lower() == squashed:
                hint = f"; did you mean {known!r}? wire types are SCREAMING_SNAKE_CASE"
                break
        raise ValidationError("type", f"unknown AG-UI event type {event_type!r}{hint}")
    data["type"] = event_type
    return event_type


def _check_camel_case(event_type: str, data: dict[str, Any], model_cls: type[BaseEvent]) -> None:
    """Reject snake_case top-level keys: AG-UI wire keys are camelCase."""
    for key in data:
        if "_" not in key:
            continue
        known = {f.alias or name for name, f in model_cls.model_fields.items()}
        if event_type in STATE_TYPES:
            known |= set(_CONTEXT_KEYS)
        squashed = key.replace("_", "").lower()
        close = [k for k in sorted(known) if k.lower() == squashed]
        if close:
            hint = f"; use {close[0]!r}"
        else:
            hint = f"; {event_type} wire keys are {', '.join(sorted(known))}"
        raise ValidationError(
            f"{event_type}.{key}",
            f"snake_case key on the wire (AG-UI wire keys are camelCase){hint}",
        )


def _map_error(event_type: str, exc: PydanticValidationError, data: dict[str, Any]) -> StateError:
    """Turn the SDK's pydantic error into ours, naming the field or operation."""
    err = exc.errors(include_url=False)[0]
    loc = err["loc"]
    index = loc[1] if len(loc) >= 2 and loc[0] == "delta" else None
    if event_type == "STATE_DELTA" and isinstance(index, int):
        return _op_error(data["delta"][index], index, err)
    field = ".".join(str(p) for p in loc) or "event"
    if err["type"] == "missing":
        reason = "missing (required field)"
    else:
        reason = f"{err['msg']} (got {short_repr(err.get('input'))})"
    if event_type == "STATE_DELTA" and field == "delta" and err["type"] != "missing":
        return PatchError(f"'delta' must be a list of operations, got {short_repr(data['delta'])}")
    return ValidationError(f"{event_type}.{field}", reason)


def _op_error(item: Any, index: int, err: Any) -> PatchError:
    if not isinstance(item, Mapping):
        return PatchError(f"operation is not an object: {short_repr(item)}", index=index)
    op = item.get("op")
    path = item.get("path")
    op_name = op if isinstance(op, str) else None
    path_str = path if isinstance(path, str) else None
    field = str(err["loc"][-1]) if len(err["loc"]) > 3 else "op"
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        reason = f"unknown op {short_repr(op)} (expected one of {', '.join(_OPS)})"
    elif err["type"] == "missing":
        reason = f"missing member {field!r}"
    elif err["type"] == "string_pattern_mismatch":
        reason = f"{field!r} is not a JSON Pointer: {short_repr(err.get('input'))}"
    else:
        reason = f"{field!r}: {err['msg']} (got {short_repr(err.get('input'))})"
    return PatchError(reason, index=index, op=op_name, path=path_str)


def _normalise(event_type: str, model: BaseEvent, data: dict[str, Any]) -> IncomingEvent:
    context: dict[str, str | None] = {"run_id": None, "thread_id": None}
    if event_type in STATE_TYPES:
        for wire_key, name in _CONTEXT_KEYS.items():
            value = data.get(wire_key)
            if value is not None and not isinstance(value, str):
                raise ValidationError(
                    f"{event_type}.{wire_key}", f"must be a string, got {short_repr(value)}"
                )
            context[name] = value
    else:
        context["run_id"] = getattr(model, "run_id", None)
        context["thread_id"] = getattr(model, "thread_id", None)
    delta: list[Operation] | None = None
    snapshot: State | None = None
    if event_type == "STATE_DELTA":
        # The model's operations are pydantic objects; dump them back to the
        # plain RFC 6902 dicts the store applies ("from" by alias).
        delta = [op.model_dump(by_alias=True) for op in model.delta]  # type: ignore[attr-defined]
    elif event_type == "STATE_SNAPSHOT":
        value = model.snapshot  # type: ignore[attr-defined]
        if not isinstance(value, dict):
            raise ValidationError(
                "STATE_SNAPSHOT.snapshot",
                "must be a JSON object (a state's root is always an object), "
                f"got {type(value).__name__}",
            )
        snapshot = value
    return IncomingEvent(
        type=event_type,
        model=model,
        delta=delta,
        snapshot=snapshot,
        run_id=context["run_id"],
        thread_id=context["thread_id"],
        timestamp=model.timestamp,
        metadata=model.metadata,
        subagent_run_id=getattr(model, "subagent_run_id", None),
    )


def parse_any(event: Any) -> BaseEvent:
    """Return an SDK event object for ``event`` (object, wire dict or JSON text).

    Unlike :func:`read_event` this validates every type against the SDK; it is
    used when events must be re-encoded (SSE output).

    Raises:
        ValidationError: The event does not validate.
    """
    if isinstance(event, BaseEvent):
        return event
    event = decode_json(event, "event")
    if not isinstance(event, Mapping):
        raise ValidationError("event", f"expected an AG-UI event, got {type(event).__name__}")
    data = dict(event)
    event_type = _check_type(data)
    try:
        parsed = EVENT_MODELS[event_type].model_validate(data)
    except PydanticValidationError as exc:
        raise _map_error(event_type, exc, data) from exc
    return parsed
