"""Identifier checks shared by every layer.

State ids are checked here (layer 2) rather than in ``backends.base`` so that
the in-memory store (layer 3) and the backends (layer 4) accept exactly the
same ids without the store importing a higher layer.
"""

from __future__ import annotations

from typing import Any

from agui_state.errors import ValidationError

__all__ = ["MAX_STATE_ID_LENGTH", "validate_state_id"]

MAX_STATE_ID_LENGTH = 1024
"""Longest accepted state id, in characters."""


def validate_state_id(state_id: Any) -> str:
    """Check a state id and return it.

    Any non-empty string of at most :data:`MAX_STATE_ID_LENGTH` characters
    without NUL or lone surrogates is accepted: backends encode ids so that none can escape their
    namespace (path traversal, SQL, Redis hash tags).

    Args:
        state_id: The candidate id.

    Returns:
        ``state_id`` unchanged.

    Raises:
        ValidationError: The id is not a string, is empty, too long or has NUL.
    """
    if not isinstance(state_id, str):
        raise ValidationError("state_id", f"must be a string, got {type(state_id).__name__}")
    if not state_id:
        raise ValidationError("state_id", "must not be empty")
    if len(state_id) > MAX_STATE_ID_LENGTH:
        raise ValidationError(
            "state_id", f"longer than {MAX_STATE_ID_LENGTH} characters ({len(state_id)})"
        )
    if "\x00" in state_id:
        raise ValidationError("state_id", f"contains NUL: {state_id[:40]!r}")
    try:
        # Every backend stores ids as UTF-8 (file names, SQL text, Redis keys);
        # a lone surrogate cannot be, so it is refused the same way everywhere.
        state_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            "state_id", f"not valid Unicode (lone surrogate at {exc.start}): {state_id[:40]!r}"
        ) from exc
    return state_id
