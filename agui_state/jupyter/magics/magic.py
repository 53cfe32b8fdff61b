"""The ``%state`` / ``%%state`` magic: one class on a ``Configurable``.

Options (``%config StateMagic`` lists them; also settable in
``ipython_config.py``):

* ``default_url``: connected to when a command runs with no open
  connection; defaults to the ``AGUI_STATE_URL`` environment variable;
* ``display_limit``: rows a returned frame shows (it keeps all of them);
* ``autodisplay``: display each result at once and return ``None``, instead
  of returning it (the default, so results can be assigned);
* ``progress``: show a progress bar during ``%state migrate``.

Parsing (:mod:`.parsing`), doing (:mod:`.commands`) and showing
(:mod:`.render`) are separate; this class only wires them and maps errors.
"""

from __future__ import annotations

import os
import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Int, Unicode, default

from agui_state.errors import StateError
from agui_state.jupyter.magics.commands import HANDLERS
from agui_state.jupyter.magics.connections import ConnectionRegistry
from agui_state.jupyter.magics.errors import MagicStateError
from agui_state.jupyter.magics.expand import UndefinedNameError, expand
from agui_state.jupyter.magics.parsing import parse
from agui_state.jupyter.magics.render import Renderer
from agui_state.jupyter.magics.session import Session

__all__ = ["StateMagic"]

_URL_PASSWORD = re.compile(r"://[^/\s@:]*:([^/\s@]+)@|[?&]password=([^&\s]+)", re.IGNORECASE)


def _secrets(text: str) -> set[str]:
    """Passwords of the URLs written in a command line (never echoed back)."""
    return {m.group(1) or m.group(2) for m in _URL_PASSWORD.finditer(text)}


@magics_class
class StateMagic(Magics):
    """Explore and change agui-state states from IPython: ``%state SUBCOMMAND ...``.

    ``%state`` alone lists the subcommands; ``%state SUBCOMMAND --help``
    explains one. ``{name}`` in a line or cell is replaced by the variable
    ``name`` of the notebook (``{{`` is a literal brace); ``$`` is never
    expanded, so ``%state get /defs/$ref`` reads the key ``$ref``.
    """

    default_url = Unicode(
        help="URL connected to when no connection is open (default: $AGUI_STATE_URL)."
    ).tag(config=True)
    display_limit = Int(20, help="Rows a returned frame displays (it keeps every row).").tag(
        config=True
    )
    autodisplay = Bool(
        False, help="Display each result at once and return None, instead of returning it."
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar during %state migrate.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.connections = ConnectionRegistry()
        self.matcher: Any = None  # the completion matcher, set by load_ipython_extension
        self._session = Session(
            registry=self.connections,
            renderer=Renderer(lambda: int(self.display_limit), lambda: bool(self.autodisplay)),
            default_url=lambda: str(self.default_url),
            progress=lambda: bool(self.progress),
            in_kernel=self._in_kernel,
        )

    @default("default_url")
    def _default_url(self) -> str:
        return os.environ.get("AGUI_STATE_URL", "")

    def _in_kernel(self) -> bool:
        return getattr(self.shell, "kernel", None) is not None

    @no_var_expand
    @line_cell_magic
    def state(self, line: str, cell: str | None = None) -> Any:
        """Run one ``%state`` subcommand: ``%state`` alone lists them.

        ``%state SUBCOMMAND --help`` explains one; ``%%state patch`` takes a
        JSON Patch as its cell body. ``{name}`` inserts a notebook variable,
        ``{{`` is a literal brace, ``$`` is never expanded.
        """
        ns = self.shell.user_ns if self.shell is not None else {}
        try:
            line = expand(line, ns)
            body = expand(cell, ns) if cell is not None else None
        except UndefinedNameError as exc:
            raise UsageError(str(exc)) from None
        secrets = _secrets(line)
        try:
            command = parse(line)
        except UsageError as exc:
            text = str(exc)
            if not any(s in text for s in secrets):
                raise
            for secret in secrets:
                text = text.replace(secret, "***")
            raise UsageError(text) from None
        if command is None:
            return None
        if command.name == "patch":
            command.args.body = body
        elif body is not None and body.strip():
            raise UsageError(f"%%state {command.name} takes no cell body (only patch does)")
        try:
            return HANDLERS[command.name](self._session, command.args)
        except MagicStateError:
            raise
        except StateError as exc:
            raise MagicStateError(exc, command.name, secrets) from exc

    def close_all(self) -> None:
        """Close every connection (on extension unload)."""
        self.connections.close_all()
