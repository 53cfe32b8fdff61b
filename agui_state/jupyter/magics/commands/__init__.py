"""The ``%state`` subcommands, one module per group.

Each command is a function ``(session, args) -> result`` taking the parsed
:class:`argparse.Namespace`; :data:`HANDLERS` maps subcommand names to them.
The cell body of ``%%state patch`` arrives as ``args.body``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from agui_state.jupyter.magics.commands import (
    backend,
    connection,
    history,
    readwrite,
    snapshots,
    transfer,
)
from agui_state.jupyter.magics.session import Session

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[[Session, argparse.Namespace], Any]

HANDLERS: dict[str, Handler] = {
    "connect": connection.connect,
    "use": connection.use,
    "connections": connection.connections,
    "close": connection.close,
    "states": readwrite.states,
    "get": readwrite.get,
    "set": readwrite.set_value,
    "delete": readwrite.delete,
    "patch": readwrite.patch,
    "history": history.history,
    "show": history.show,
    "diff": history.diff,
    "changes": history.changes,
    "blame": history.blame,
    "snapshot": snapshots.snapshot,
    "snapshots": snapshots.snapshots,
    "restore": snapshots.restore,
    "migrate": transfer.migrate,
    "export": transfer.export,
    "import": transfer.import_file,
    "stats": backend.stats,
    "ping": backend.ping,
    "browse": backend.browse,
}
