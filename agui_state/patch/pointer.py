"""JSON Pointer (RFC 6901): parsing, formatting and read-only lookup.

The one place pointers are escaped (:func:`escape_token`) and followed:
:func:`lookup` raises a :class:`StepError` naming the failing step,
:func:`find` answers ``(found, value)`` instead, :func:`resolve` takes a
pointer string and raises :class:`~agui_state.errors.InvalidPathError`.

A pointer is ``""`` (the whole document) or a sequence of ``/``-prefixed
reference tokens in which ``~1`` stands for ``/`` and ``~0`` for ``~``; any
other ``~`` sequence is malformed. Array indices are strict: decimal digits
without a leading zero (``0``, ``7``, ``42``; never ``01``, ``+1``, ``-1``,
`` 1`` or ``1a``). ``-`` names the position past the last array element and
is only meaningful as the target of an ``add``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from agui_state.errors import InvalidPathError

__all__ = [
    "StepError",
    "array_index",
    "child",
    "escape_token",
    "find",
    "format_pointer",
    "list_index",
    "location",
    "lookup",
    "parse_pointer",
    "resolve",
]

# ASCII digits only: str.isdigit() would accept digits of other scripts too.
_INDEX = re.compile(r"0|[1-9][0-9]*")
_END = "-"  # the past-the-end array position
_BAD_ESCAPE = re.compile(r"~(?![01])")
# Longer digit strings cannot index any real list; skip int() on them (and its
# 4300-digit limit) and report them as out of range.
_MAX_INDEX_DIGITS = 18


class StepError(Exception):
    """Internal: one lookup step failed. Callers turn it into a public error.

    Never escapes the ``patch`` package: :func:`resolve` re-raises it as
    :class:`~agui_state.errors.InvalidPathError` and ``apply_patch`` as
    :class:`~agui_state.errors.PatchError`.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def escape_token(token: str) -> str:
    """Escape one reference token (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def parse_pointer(path: str) -> list[str]:
    """Split an RFC 6901 JSON Pointer into its unescaped reference tokens.

    Args:
        path: ``""`` for the whole document, or ``/``-separated tokens.

    Returns:
        The tokens, unescaped (``"/a~1b/~0"`` -> ``["a/b", "~"]``; ``""`` -> ``[]``).

    Raises:
        InvalidPathError: ``path`` is not a string, is not empty and does not
            start with ``/``, or holds a ``~`` not followed by ``0`` or ``1``.
    """
    if not isinstance(path, str):
        raise InvalidPathError(
            repr(path), f"a JSON Pointer must be a string, got {type(path).__name__}"
        )
    if path == "":
        return []
    if path[0] != "/":
        raise InvalidPathError(path, "a JSON Pointer must be empty or start with '/'")
    tokens = path[1:].split("/")
    if "~" not in path:
        return tokens
    for i, token in enumerate(tokens):
        if "~" in token:
            bad = _BAD_ESCAPE.search(token)
            if bad is not None:
                sequence = token[bad.start() : bad.start() + 2]
                raise InvalidPathError(
                    path, f"invalid escape {sequence!r} in token {token!r} (only '~0' and '~1')"
                )
            # Order matters: "~01" is "~1" literally, not "/".
            tokens[i] = token.replace("~1", "/").replace("~0", "~")
    return tokens


def format_pointer(tokens: Iterable[str]) -> str:
    """Join reference tokens into an RFC 6901 JSON Pointer, escaping them.

    Args:
        tokens: Unescaped tokens (``["a/b", "~"]``).

    Returns:
        The pointer (``"/a~1b/~0"``); ``""`` for no tokens.
    """
    return "".join("/" + escape_token(token) for token in tokens)


def location(tokens: Sequence[str], depth: int) -> str:
    """Describe where the first ``depth`` tokens lead, for error messages."""
    if depth == 0:
        return "the document root"
    return repr(format_pointer(tokens[:depth]))


def array_index(
    token: str, length: int, *, allow_end: bool, tokens: Sequence[str], depth: int
) -> int:
    """Turn ``token`` into an index into an array of ``length`` elements.

    Args:
        token: The reference token.
        length: The array's length.
        allow_end: Whether ``length`` itself (and ``-``) is acceptable, i.e.
            the position of an insertion (``add``).
        tokens: The whole pointer's tokens, for the error message.
        depth: How many tokens lead to the array, for the error message.

    Returns:
        The index (``length`` for ``-`` when ``allow_end``).

    Raises:
        StepError: The token is not a strict index, or is out of range.
    """
    if token == _END:
        if allow_end:
            return length
        raise StepError(
            f"'-' (past the last element of the array at {location(tokens, depth)}) "
            "is only valid as the target of 'add'"
        )
    if _INDEX.fullmatch(token) is None:
        raise StepError(
            f"invalid array index {token!r} in the array at {location(tokens, depth)} "
            "(expected decimal digits without a leading zero, or '-')"
        )
    limit = length if allow_end else length - 1
    if len(token) > _MAX_INDEX_DIGITS or int(token) > limit:
        raise StepError(
            f"index {token} out of range (length {length}) "
            f"in the array at {location(tokens, depth)}"
        )
    return int(token)


def child(node: Any, tokens: Sequence[str], depth: int) -> Any:
    """Return the child of ``node`` named by ``tokens[depth]`` (read-only).

    Raises:
        StepError: No such member/element, or ``node`` is not a container.
    """
    token = tokens[depth]
    if isinstance(node, dict):
        try:
            return node[token]
        except KeyError:
            raise StepError(
                f"member {token!r} not found in the object at {location(tokens, depth)}"
            ) from None
    if isinstance(node, list):
        return node[array_index(token, len(node), allow_end=False, tokens=tokens, depth=depth)]
    raise StepError(
        f"cannot look up {token!r} in a {type(node).__name__} value "
        f"(at {location(tokens, depth)}): only objects and arrays have children"
    )


def lookup(doc: Any, tokens: Sequence[str]) -> Any:
    """Return the value ``tokens`` lead to in ``doc`` (not copied).

    Raises:
        StepError: Some step does not resolve.
    """
    node = doc
    for depth in range(len(tokens)):
        node = child(node, tokens, depth)
    return node


def list_index(ref: str) -> int | None:
    """Return the array index an RFC 6901 token denotes, or None.

    Only ``0`` or digits without a leading zero are indices; ``-`` (the end
    of an array) is not an existing element and gives None.
    """
    if ref == "0":
        return 0
    if ref and ref[0] != "0" and ref.isascii() and ref.isdigit():
        return int(ref)
    return None


def find(doc: Any, tokens: Sequence[str]) -> tuple[bool, Any]:
    """Return ``(True, value)`` for the value ``tokens`` lead to in ``doc``, else ``(False, None)``.

    :func:`lookup` without the error: for callers that only ask whether a
    path exists (subscriptions, reads of optional values), where an
    exception per missing path would cost more than the lookup itself.
    The value is not copied.
    """
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                return False, None
            node = node[token]
        elif isinstance(node, list):
            index = list_index(token)
            if index is None or index >= len(node):
                return False, None
            node = node[index]
        else:
            return False, None
    return True, node


def resolve(doc: Any, path: str) -> Any:
    """Return the value at ``path`` in ``doc``.

    The value is returned as it is, not copied: treat it as read-only, since
    states share structure with their older versions.

    Args:
        doc: A JSON document.
        path: An RFC 6901 JSON Pointer (``""`` is the whole document).

    Returns:
        The value found.

    Raises:
        InvalidPathError: ``path`` is malformed or does not resolve (missing
            member, index out of range or malformed, ``-``, or a step into a
            scalar).
    """
    tokens = parse_pointer(path)
    try:
        return lookup(doc, tokens)
    except StepError as exc:
        raise InvalidPathError(path, exc.reason) from None
