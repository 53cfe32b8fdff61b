"""The slice of the store API this package uses, as a structural type.

Both :class:`~agui_state.store.StateStore` and
:class:`~agui_state.persistent.PersistentStateStore` satisfy it; naming a
protocol instead of the classes keeps this layer usable with any object that
offers the same methods (a test double, a proxy) and free of import cycles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from agui_state.backends.base import StorageBackend
from agui_state.models import Operation, State, StateVersion

__all__ = ["Source", "StoreLike", "TransactionLike"]


class TransactionLike(Protocol):
    """What :mod:`agui_state.agui` needs from a store transaction."""

    def get(self, path: str = "") -> Any:
        """Return the value at ``path`` as seen by the transaction."""
        ...

    def apply(self, patch: list[dict[str, Any]]) -> None:
        """Apply a patch within the transaction."""
        ...

    @property
    def metadata(self) -> dict[str, Any]:
        """Metadata of the version the commit writes."""
        ...

    @metadata.setter
    def metadata(self, value: dict[str, Any] | None) -> None: ...

    def commit(self) -> StateVersion | None:
        """Publish the writes as one version (ConflictError if the store moved on)."""
        ...

    def rollback(self) -> None:
        """Discard the writes."""
        ...


class StoreLike(Protocol):
    """What :mod:`agui_state.agui` needs from a state store."""

    @property
    def state_id(self) -> str:
        """The state (AG-UI thread) id."""
        ...

    @property
    def version(self) -> int:
        """The current version number."""
        ...

    def get_state(self) -> State:
        """Return the current state."""
        ...

    def state_at(self, version: int) -> State:
        """Return the state at a version."""
        ...

    def history(self, limit: int = 50, before: int | None = None) -> list[StateVersion]:
        """Return versions newest first."""
        ...

    def get_version(self, number_or_id: int | str) -> StateVersion:
        """Return one version by number or id."""
        ...

    def apply_patch(
        self, patch: list[Operation], metadata: dict[str, Any] | None = None
    ) -> StateVersion:
        """Apply a patch atomically as one version."""
        ...

    def subscribe(
        self, path: str, callback: Callable[[Any], None], *, every_version: bool = False
    ) -> Callable[[], None]:
        """Call ``callback`` on every change under ``path``; return an unsubscriber.

        ``every_version=True``: also for versions that changed nothing.
        """
        ...

    def subscribe_versions(self, callback: Callable[[StateVersion], None]) -> Callable[[], None]:
        """Call ``callback`` with every new version (no values kept); return an unsubscriber."""
        ...

    def transaction(self) -> TransactionLike:
        """Begin an optimistic transaction on the current version."""
        ...


Source = StoreLike | StorageBackend
"""Where versions are read from: a store, or a backend plus a state id."""
