"""The in-memory store: ``StateStore``, its transaction, history, snapshots, subscriptions, limits.

Modules: ``state_store`` (the store), ``transaction`` (its all-or-nothing
transaction), ``apply`` and ``sizing`` (one write's validation, patch and size
accounting), ``limits`` (size and depth limits), ``history`` and ``versions``
(the version window and reads from it), ``snapshots``, ``subscriptions``,
``loading`` (rebuilding a store from stored records) and ``versionid``.
"""

from agui_state.store.limits import StoreLimits, StoreOptions
from agui_state.store.state_store import StateChange, StateStore, StoreTransaction

__all__ = ["StateChange", "StateStore", "StoreLimits", "StoreOptions", "StoreTransaction"]
