"""Tab completion of ``%state``: subcommands, then JSON Pointers of the current state.

A matcher of IPython's completer (matcher API v2, appended to
``shell.Completer.custom_matchers``), active only on ``%state`` and
``%%state`` lines. After ``%state`` it offers the subcommands; after a
subcommand that takes a pointer (``get``, ``set``, ``delete``...) it offers
the pointer typed so far (IPython does not split words at ``/``) joined with
each key, or index, of what that pointer's parent reaches in the current
state, and then suppresses the other matchers (Jedi would offer Python
names; IPython lets only a matcher that found something suppress).

It reads storage only when a connection is already open and never raises: a
failing completion would break the user's tab key.
"""

from __future__ import annotations

from typing import Any

from IPython.core.completer import SimpleCompletion, completion_matcher

from agui_state.jupyter.magics.connections import ConnectionRegistry
from agui_state.jupyter.magics.parsing import SUBCOMMANDS
from agui_state.patch import resolve

__all__ = ["POINTER_COMMANDS", "candidates", "make_matcher"]

POINTER_COMMANDS = {"get", "set", "delete", "changes", "blame", "browse"}
"""Subcommands whose first positional argument is a JSON Pointer."""

_MAX_MATCHES = 200


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointers(registry: ConnectionRegistry, word: str) -> list[tuple[str, str]]:
    conn = registry.current
    if conn is None:
        return []
    parent, _, partial = (word or "/").rpartition("/")
    node = resolve(conn.backend.get_state(conn.state_id), parent)
    if isinstance(node, dict):
        keys = [_escape(k) for k in node]
    elif isinstance(node, list):
        keys = [str(i) for i in range(len(node))]
    else:
        return []
    return [(f"{parent}/{k}", "pointer") for k in keys if k.startswith(partial)][:_MAX_MATCHES]


def candidates(registry: ConnectionRegistry, before_cursor: str) -> list[tuple[str, str]] | None:
    """Completions ``(text, type)`` of a line up to the cursor.

    ``None`` when the word is not a subcommand or a pointer (not a ``%state``
    line, a file name...): other matchers complete it. A list, even empty,
    is the whole answer.
    """
    line = before_cursor.lstrip()
    words = line.split()
    if not words or words[0] not in ("%state", "%%state") or (len(words) == 1 and line == words[0]):
        return None  # not ours (or still typing the magic's own name)
    ended = line.endswith((" ", "\t"))
    if len(words) == 1 or (len(words) == 2 and not ended):
        prefix = "" if len(words) == 1 else words[1]
        return [(name, "subcommand") for name in sorted(SUBCOMMANDS) if name.startswith(prefix)]
    word = "" if ended else words[-1]
    if words[1] not in POINTER_COMMANDS or word.startswith("-"):
        return None  # file names, options...: other matchers may help
    if word and not word.startswith("/"):
        return []
    return _pointers(registry, word)


def make_matcher(registry: ConnectionRegistry) -> Any:
    """Return a completer matcher bound to a magic's connections."""

    @completion_matcher(  # type: ignore[untyped-decorator]  # IPython types it loosely
        identifier="agui_state.state_magic", priority=10, api_version=2
    )
    def state_matcher(context: Any) -> dict[str, Any]:
        try:
            found = candidates(registry, context.text_until_cursor)
        except Exception:
            found = []  # never break the tab key: no completions instead
        if found is None:
            return {"completions": [], "suppress": False}
        items = [SimpleCompletion(text, type=kind) for text, kind in found]
        return {"completions": items, "suppress": True}

    return state_matcher
