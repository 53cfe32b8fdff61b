"""The open backends of one ``%state`` magic, and which one is current.

A :class:`ConnectionRegistry` belongs to the magic instance (no module-level
state). A :class:`Connection` keeps the backend it opened and the *redacted*
URL only: the password is handed to the backend once and never kept here,
so no list, repr or error of the magics can show it.

Connections hold no copy of any state: every command reads storage afresh,
so what ``%state`` shows is what an agent writing the same storage wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from agui_state.backends import StorageBackend, create_backend
from agui_state.config import StorageConfig, redact_url
from agui_state.errors import ValidationError
from agui_state.ids import validate_state_id

__all__ = ["DEFAULT_STATE_ID", "Connection", "ConnectionRegistry"]

DEFAULT_STATE_ID = "default"
"""The state a new connection works on, like ``PersistentStateStore``'s default."""


@dataclass
class Connection:
    """One open backend.

    Attributes:
        name: The connection's name (``%state use NAME``).
        url: The URL with its password redacted.
        kind: The backend kind (``"file"``, ``"sql"``, ``"redis"``...).
        backend: The open backend.
        state_id: The state commands work on.
    """

    name: str
    url: str
    kind: str
    backend: StorageBackend = field(repr=False)
    state_id: str = DEFAULT_STATE_ID

    def __repr__(self) -> str:
        return f"Connection(name={self.name!r}, url={self.url!r}, state_id={self.state_id!r})"


class ConnectionRegistry:
    """Named connections and the current one."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}
        self._current: str | None = None

    def __len__(self) -> int:
        return len(self._connections)

    def __contains__(self, name: object) -> bool:
        return name in self._connections

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._connections.values()))

    @property
    def current(self) -> Connection | None:
        """The current connection, if any."""
        return None if self._current is None else self._connections[self._current]

    def open(self, url: str, name: str | None = None, state_id: str | None = None) -> Connection:
        """Open ``url`` as connection ``name`` (replacing one of that name) and make it current.

        Raises:
            ConfigError: The URL is invalid.
            StorageError: The backend cannot be opened or does not answer.
            ValidationError: The state id or name is invalid.
        """
        sid = validate_state_id(state_id if state_id is not None else DEFAULT_STATE_ID)
        config = StorageConfig.from_url(url)
        label = name if name is not None else self._free_name(config.type)
        if not label.strip():
            raise ValidationError("name", "a connection name must not be empty")
        backend = create_backend(config)
        try:
            backend.ping()
        except BaseException:
            backend.close()
            raise
        if label in self._connections:  # replaced in place: the listing keeps its order
            self._connections[label].backend.close()
        conn = Connection(label, redact_url(url), config.type, backend, sid)
        self._connections[label] = conn
        self._current = label
        return conn

    def _free_name(self, kind: str) -> str:
        if kind not in self._connections:
            return kind
        n = 2
        while f"{kind}{n}" in self._connections:
            n += 1
        return f"{kind}{n}"

    def get(self, name: str) -> Connection:
        """Return connection ``name``.

        Raises:
            KeyError: No such connection.
        """
        return self._connections[name]

    def use(self, name: str) -> Connection:
        """Make connection ``name`` current."""
        conn = self._connections[name]
        self._current = name
        return conn

    def close(self, name: str) -> Connection:
        """Close and forget connection ``name``; the newest other one becomes current."""
        conn = self._connections.pop(name)
        if self._current == name:
            self._current = next(reversed(self._connections), None)
        conn.backend.close()
        return conn

    def close_all(self) -> None:
        """Close every connection (extension unload)."""
        for name in list(self._connections):
            self.close(name)
