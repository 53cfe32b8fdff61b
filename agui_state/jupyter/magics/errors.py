"""How ``%state`` reports a library error: one line, no traceback, a failed cell.

A :class:`~agui_state.errors.StateError` raised by a command is re-raised as
:class:`MagicStateError`, whose ``_render_traceback_`` IPython calls instead
of formatting a traceback. The cell still *fails*: the kernel replies with
status ``error`` and an ``error`` output, so nbclient and nbval stop on it,
while the reader sees only the message, which names the path, operation, id
or field at fault. Printing the message and returning would look the same but
let a notebook runner carry on past the failure; a ``UsageError`` would fail
the cell but is meant for bad command lines, not for what the library refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from agui_state.errors import StateError

__all__ = ["MagicStateError"]


class MagicStateError(StateError):
    """A library error raised by a ``%state`` command, shown as one line.

    It derives from :class:`~agui_state.errors.StateError`, so
    ``except StateError`` around ``get_ipython().run_line_magic(...)`` catches it.

    Attributes:
        error: The original library error (also ``__cause__``).
        command: The ``%state`` subcommand that failed.
    """

    def __init__(self, error: StateError, command: str, secrets: Iterable[str] = ()) -> None:
        self.error = error
        self.command = command
        text = f"%state {command}: {type(error).__name__}: {error}"
        # Library messages already redact URLs; this also hides a password the
        # user typed on the line if a message ever quotes it some other way.
        for secret in secrets:
            text = text.replace(secret, "***")
        super().__init__(text)

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback (terminal and kernel alike).
        return [str(self)]
