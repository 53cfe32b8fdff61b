"""Tab completion of ``%state``: subcommands, then JSON Pointers of the current state.

Registered with IPython's ``complete_command`` hook for ``%state`` and
``%%state``. The word being completed is the pointer typed so far (IPython does not
split at ``/``): the completer offers that pointer's parent joined with each
key (or index) of the object the parent reaches in the current state. It reads storage
only when a connection is already open and never raises (a failing
completion would break the user's tab key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agui_state.jupyter.magics.connections import ConnectionRegistry
from agui_state.jupyter.magics.parsing import SUBCOMMANDS
from agui_state.patch import resolve

__all__ = ["POINTER_COMMANDS", "make_completer"]

POINTER_COMMANDS = {"get", "set", "delete", "changes", "blame", "browse"}
"""Subcommands whose first positional argument is a JSON Pointer."""

_MAX_MATCHES = 200


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer_matches(registry: ConnectionRegistry, word: str) -> list[str]:
    conn = registry.current
    if conn is None or not word.startswith("/"):
        return []
    parent, _, partial = word.rpartition("/")
    doc = conn.backend.get_state(conn.state_id)
    node = resolve(doc, parent)
    if isinstance(node, dict):
        keys = [_escape(k) for k in node]
    elif isinstance(node, list):
        keys = [str(i) for i in range(len(node))]
    else:
        return []
    return [f"{parent}/{k}" for k in keys if k.startswith(partial)][:_MAX_MATCHES]


def make_completer(registry: ConnectionRegistry) -> Callable[[Any, Any], list[str]]:
    """Return a ``complete_command`` hook bound to a magic's connections."""

    def complete(self: Any, event: Any) -> list[str]:
        del self  # IPython passes the shell
        try:
            before = str(event.text_until_cursor).lstrip()
            words = before.split()
            ended = before.endswith((" ", "\t"))
            if (len(words) == 1 and ended) or (len(words) == 2 and not ended):
                return sorted(SUBCOMMANDS)
            sub = words[1] if len(words) > 1 else ""
            if sub not in POINTER_COMMANDS:
                return []
            word = "" if ended else words[-1]
            if word.startswith("-"):
                return []
            return _pointer_matches(registry, word or "/")
        except Exception:
            return []  # never break the tab key: no completions instead

    return complete
