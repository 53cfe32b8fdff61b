"""Explicit ``{name}`` expansion of ``%state`` lines and cell bodies.

IPython's own expansion (``$name`` and ``{expr}``) is turned off for
``%state``: JSON Pointers and JSON values contain both (``/defs/$ref``,
``{"a": 1}``). Instead exactly one form is expanded:

* ``{name}``, where ``name`` is a Python identifier, is replaced by the value
  of ``name`` in the user namespace: a ``str`` as it is, anything else as JSON
  (``True`` -> ``true``, ``None`` -> ``null``, a dict -> its JSON text);
* ``{{`` is a literal ``{`` (so ``{{name}`` is the text ``{name}``);
* every other character, ``$`` and lone braces included, is left alone.

Valid JSON never contains ``{{`` outside strings, so JSON text passes through
unchanged unless it holds a ``{name}`` placeholder on purpose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["UndefinedNameError", "expand"]

_TOKEN = re.compile(r"\{\{|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UndefinedNameError(NameError):
    """A ``{name}`` placeholder names no variable of the user namespace."""


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)


def expand(text: str, namespace: Mapping[str, Any]) -> str:
    """Return ``text`` with its ``{name}`` placeholders replaced.

    Args:
        text: A ``%state`` line or cell body.
        namespace: The user namespace to look names up in.

    Returns:
        The expanded text.

    Raises:
        UndefinedNameError: A placeholder names an undefined variable.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "{"
        if name not in namespace:
            raise UndefinedNameError(
                f"{{{name}}} names no variable; write {{{{{name}}} for the literal text {{{name}}}"
            )
        return _text(namespace[name])

    return _TOKEN.sub(replace, text)
