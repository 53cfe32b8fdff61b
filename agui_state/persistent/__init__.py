"""The persistent store: a ``StateStore`` whose every change is written to a backend.

Modules: ``state_store`` (``PersistentStateStore``), ``transaction``,
``writer`` (the write-behind queue), ``load``, ``write``, ``stats`` and
``close`` (its loading, synchronous writes, statistics and shutdown).
"""

from agui_state.persistent.state_store import PersistentStateStore, PersistentTransaction

__all__ = ["PersistentStateStore", "PersistentTransaction"]
