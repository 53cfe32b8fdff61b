"""JavaScript-safe output: refuse what a JavaScript AG-UI client cannot keep.

The wire is right (JSON has arbitrary integers and any key), but every
JavaScript client reads it with ``JSON.parse`` into doubles and applies deltas
with ``fast-json-patch``, which loses or refuses some of it *silently*:

* **Integers outside ±(2^53 - 1)** (``Number.MAX_SAFE_INTEGER``) are rounded:
  ``9007199254740993`` arrives as ``...992``. Floats are not checked: a double
  is what both sides hold (``1.0`` arriving as ``1`` is the same number).
* **Pointers through ``__proto__``**, or through ``prototype`` directly under
  ``constructor``, are refused by ``fast-json-patch`` (prototype pollution
  guard); ``@ag-ui/client`` logs a warning, skips the delta and goes on, so
  the client's state silently differs from the server's from then on. A
  value whose keys would form such a pointer (``{"__proto__": 1}``) is
  refused too: the next delta into it would be skipped the same way.
  ``constructor`` or ``prototype`` alone are ordinary keys and pass.

With ``js_safe=True`` (the default of every stream this package emits) such an
event is refused with a :class:`~agui_state.errors.ValidationError` whose
``field`` is the JSON Pointer at fault, before anything is sent; a served run
turns it into ``RUN_ERROR``. The store itself accepts these values: only the
bridge refuses them, and ``js_safe=False`` sends them as they are (for
clients in other languages).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agui_state.errors import ValidationError
from agui_state.patch import format_pointer, parse_pointer

__all__ = ["MAX_SAFE_INTEGER", "check_js_safe_event", "check_js_safe_patch", "check_js_safe_value"]

MAX_SAFE_INTEGER = 2**53 - 1
"""JavaScript's ``Number.MAX_SAFE_INTEGER``: larger integers lose precision."""


def _banned(key: str, parent: str | None) -> bool:
    return key == "__proto__" or (key == "prototype" and parent == "constructor")


def _refuse_key(tokens: Sequence[str]) -> ValidationError:
    return ValidationError(
        format_pointer(tokens),
        f"key {tokens[-1]!r} is refused by JavaScript clients (fast-json-patch bans "
        "__proto__ and constructor/prototype): they would silently skip the change "
        "(js_safe=False sends it anyway)",
    )


def _check_tokens(tokens: Sequence[str]) -> None:
    for i, token in enumerate(tokens):
        if _banned(token, tokens[i - 1] if i else None):
            raise _refuse_key(tokens[: i + 1])


def check_js_safe_value(value: Any, tokens: Sequence[str] = ()) -> None:
    """Check a JSON value located at ``tokens``; raise at the first unsafe part.

    Raises:
        ValidationError: ``field`` is the pointer of an integer outside
            ±(2^53-1) or of a banned key.
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, tuple(tokens))]
    while stack:
        node, where = stack.pop()
        if isinstance(node, bool):
            continue
        if isinstance(node, int):
            if -MAX_SAFE_INTEGER <= node <= MAX_SAFE_INTEGER:
                continue
            raise ValidationError(
                format_pointer(where),
                f"integer {node} is outside ±(2^53-1): a JavaScript client would round it "
                "(store it as a string, or use js_safe=False)",
            )
        if isinstance(node, Mapping):
            parent = where[-1] if where else None
            children: list[tuple[Any, tuple[str, ...]]] = []
            for key, item in node.items():
                path = (*where, str(key))
                if _banned(str(key), parent):
                    raise _refuse_key(path)
                children.append((item, path))
            stack.extend(reversed(children))  # depth first, in document order
        elif isinstance(node, list):
            stack.extend(reversed([(item, (*where, str(i))) for i, item in enumerate(node)]))


def check_js_safe_patch(patch: Iterable[Mapping[str, Any]]) -> None:
    """Check every pointer and value of an RFC 6902 patch.

    Raises:
        ValidationError: See :func:`check_js_safe_value`.
    """
    for op in patch:
        tokens = parse_pointer(str(op.get("path", "")))
        _check_tokens(tokens)
        if "from" in op:
            _check_tokens(parse_pointer(str(op["from"])))
        if "value" in op:
            check_js_safe_value(op["value"], tokens)


def check_js_safe_event(event: Any) -> None:
    """Check a ``STATE_DELTA`` or ``STATE_SNAPSHOT`` event (other types pass).

    Raises:
        ValidationError: See :func:`check_js_safe_value`.
    """
    kind = getattr(getattr(event, "type", None), "value", None)
    if kind == "STATE_SNAPSHOT":
        check_js_safe_value(event.snapshot)
    elif kind == "STATE_DELTA":
        check_js_safe_patch(op.model_dump(by_alias=True) for op in event.delta)
