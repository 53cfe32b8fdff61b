"""What a command needs from its magic: connections, options, rendering.

The magic builds one :class:`Session` and hands it to every command, so the
command modules depend on this small surface, not on the magic class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from IPython.core.error import UsageError

from agui_state.jupyter.magics.connections import Connection, ConnectionRegistry
from agui_state.jupyter.magics.render import Renderer
from agui_state.persistent import PersistentStateStore
from agui_state.store import StoreOptions

__all__ = ["Session"]

NO_CONNECTION = (
    "no connection: run %state connect URL first "
    "(or set AGUI_STATE_URL or %config StateMagic.default_url)"
)


@dataclass
class Session:
    """The state a magic instance shares with its commands.

    Attributes:
        registry: The open connections.
        renderer: Result display.
        default_url: Returns the URL to connect to when no connection is open.
        progress: Returns whether long commands show a progress bar.
        in_kernel: Returns whether the shell is a Jupyter kernel (notebook bars).
    """

    registry: ConnectionRegistry
    renderer: Renderer
    default_url: Callable[[], str]
    progress: Callable[[], bool]
    in_kernel: Callable[[], bool]

    def connection(self) -> Connection:
        """The current connection, opening ``default_url`` when none is open.

        Raises:
            UsageError: No connection and no default URL.
        """
        conn = self.registry.current
        if conn is not None:
            return conn
        url = self.default_url()
        if not url:
            raise UsageError(NO_CONNECTION)
        return self.registry.open(url)

    @contextmanager
    def writer(self, conn: Connection | None = None) -> Iterator[PersistentStateStore]:
        """A store over the connection's current state, loaded fresh from storage.

        Opened per command and closed after it (the backend stays open), so
        a write always builds on what storage holds now, even when an agent
        wrote the same state in between; a stale copy would only conflict.
        """
        conn = conn or self.connection()
        # Writes need only the head: keep a short history in memory.
        options = StoreOptions(
            checkpoint_interval=conn.backend.config.checkpoint_interval, max_history=1
        )
        store = PersistentStateStore(conn.backend, state_id=conn.state_id, options=options)
        try:
            yield store
        finally:
            store.close()
