"""Path subscriptions of a store and the ordered delivery of their changes.

Internal module of the store layer (``StateChange`` is re-exported by
:mod:`agui_state.store`).

Delivery protocol: the store enqueues one item per published version while
it still holds its write lock, so the queue is in version order. It then
releases the write lock and calls :meth:`Notifier.drain`. Whichever thread
gets the notification lock delivers *every* queued item, in order; a thread
that finds the lock taken leaves its item to the current holder. Hence:

* callbacks for version ``n`` always run before those for ``n + 1``;
* callbacks never run under the write lock, so they may read the store and
  even write to it: the nested write's item is queued and delivered by the
  same thread right after the current callbacks (no deadlock, no reordering);
* a write normally returns after its callbacks ran, except when another
  thread was delivering at that moment (that thread delivers them) or the
  write was made from inside a callback.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agui_state.models import State, StateVersion
from agui_state.patch import json_equal, parse_pointer, touched_paths
from agui_state.patch.pointer import find, list_index
from agui_state.store.jsonutil import copy_json, export_version

__all__ = ["ErrorHandler", "Notifier", "StateChange"]

ErrorHandler = Callable[[Exception], None]
"""Receives the exception a subscriber callback raised."""


@dataclass(frozen=True)
class StateChange:
    """What a subscriber receives when the value at its path changed.

    Construct positionally as ``StateChange(path, old, new, version,
    existed_before, exists_after)`` (the store does). ``old``, ``new`` and
    ``version`` are copied *when read*, each read giving a private copy: a
    callback that only looks at ``version.delta``, or never looks at a large
    value, does not pay for copying it.

    Attributes:
        path: The subscribed JSON Pointer.
        old: Value at ``path`` before the version (``None`` when absent).
        new: Value at ``path`` after the version (``None`` when absent).
        version: The version that made the change.
        existed_before: Whether ``path`` existed before the version.
        exists_after: Whether ``path`` exists after the version.
    """

    path: str
    _old: Any = field(repr=False)
    _new: Any = field(repr=False)
    _version: StateVersion = field(repr=False)
    existed_before: bool
    exists_after: bool

    @property
    def old(self) -> Any:
        """A private copy of the value before the version (``None`` when absent)."""
        return copy_json(self._old)

    @property
    def new(self) -> Any:
        """A private copy of the value after the version (``None`` when absent)."""
        return copy_json(self._new)

    @property
    def version(self) -> StateVersion:
        """A private copy of the version that made the change."""
        return export_version(self._version)

    def __repr__(self) -> str:
        return (
            f"StateChange(path={self.path!r}, version={self._version.number}, "
            f"existed_before={self.existed_before}, exists_after={self.exists_after})"
        )


class _Subscription:
    __slots__ = ("active", "callback", "every_version", "path", "since", "tokens", "values")

    def __init__(
        self,
        path: str,
        tokens: list[str],
        callback: Callable[[Any], None],
        since: int,
        every_version: bool = False,
        values: bool = True,
    ) -> None:
        self.path = path
        self.tokens = tokens
        self.callback = callback
        self.since = since  # only versions after this one are delivered
        # Also notified of versions that left the value unchanged (a test-only
        # patch, a value set to itself): followers of the version sequence,
        # such as a live AG-UI stream, must see every number.
        self.every_version = every_version
        # False: a follower of versions only (``callback(version)``), which
        # needs neither the old nor the new state, so writes may go in place.
        self.values = values
        self.active = True


class _Item(NamedTuple):
    old: State
    new: State
    version: StateVersion


def _is_prefix(short: list[str], long: list[str]) -> bool:
    # Token-wise, so "/a" never matches "/ab".
    return len(short) <= len(long) and long[: len(short)] == short


def _relevant(sub: list[str], touched: list[list[str]]) -> bool:
    """Whether a write touching ``touched`` may change the value at ``sub``.

    True when a touched path is ``sub``, above it or below it. An insertion
    or removal in an array shifts the later elements, so a touched array
    element also counts as touching every path under that array. This may
    over-approximate; the caller then compares the values.
    """
    for path in touched:
        if _is_prefix(path, sub) or _is_prefix(sub, path):
            return True
        if (
            path
            and (path[-1] == "-" or list_index(path[-1]) is not None)
            and _is_prefix(path[:-1], sub)
        ):
            return True
    return False


class Notifier:
    """Subscriptions of one store and the queue of changes to deliver to them."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._subs: tuple[_Subscription, ...] = ()
        self._subs_lock = threading.Lock()
        self._pending: deque[_Item] = deque()
        self._notify_lock = threading.Lock()
        self._error_handler: ErrorHandler | None = None

    @property
    def active(self) -> bool:
        """Whether anyone is subscribed (no subscribers: writes enqueue nothing)."""
        return bool(self._subs)

    @property
    def needs_old_state(self) -> bool:
        """Whether a subscriber reads values, and so needs the state as it was before a write."""
        return any(sub.values for sub in self._subs)

    def subscribe(
        self,
        path: str,
        tokens: list[str],
        callback: Callable[[Any], None],
        since: int,
        every_version: bool = False,
        values: bool = True,
    ) -> Callable[[], None]:
        """Add a subscription receiving versions after ``since``; return its unsubscribe.

        ``values=False`` (with ``every_version``): ``callback`` gets each
        :class:`StateVersion` itself instead of a :class:`StateChange`.
        """
        sub = _Subscription(path, tokens, callback, since, every_version, values)
        with self._subs_lock:
            self._subs = (*self._subs, sub)

        def unsubscribe() -> None:
            with self._subs_lock:
                sub.active = False
                self._subs = tuple(s for s in self._subs if s is not sub)

        return unsubscribe

    def restart_at(self, number: int) -> None:
        """After a history reload: deliver only versions after ``number``."""
        with self._subs_lock:
            for sub in self._subs:
                sub.since = number

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Route callback exceptions to ``handler`` (None: log them)."""
        self._error_handler = handler

    def enqueue(self, old: State, new: State, version: StateVersion) -> None:
        """Queue a published version; the caller holds the store's write lock."""
        self._pending.append(_Item(old, new, version))

    def drain(self) -> None:
        """Deliver queued items unless another thread (or an outer frame) is doing it."""
        while self._pending:
            if not self._notify_lock.acquire(blocking=False):
                # The holder delivers our item too: it loops until the queue is
                # empty and re-checks after releasing the lock (below).
                return
            try:
                while self._pending:
                    self._deliver(self._pending.popleft())
            finally:
                self._notify_lock.release()

    def _deliver(self, item: _Item) -> None:
        touched: list[list[str]] | None = None
        for sub in self._subs:
            if not sub.active or item.version.number <= sub.since:
                continue
            if not sub.values:
                try:
                    sub.callback(item.version)
                except Exception as exc:
                    self._report(exc, sub.path)
                continue
            if not sub.every_version:
                if touched is None:
                    touched = [parse_pointer(p) for p in touched_paths(item.version.delta)]
                if not _relevant(sub.tokens, touched):
                    continue
            had, before = find(item.old, sub.tokens)
            has, after = find(item.new, sub.tokens)
            unchanged = had == has and (not had or before is after or json_equal(before, after))
            if unchanged and not sub.every_version:
                continue
            # Internal values are immutable; StateChange copies them when read.
            change = StateChange(sub.path, before, after, item.version, had, has)
            try:
                sub.callback(change)
            except Exception as exc:
                self._report(exc, sub.path)

    def _report(self, exc: Exception, path: str) -> None:
        handler = self._error_handler
        if handler is None:
            self._log.error("subscriber callback for path %r failed", path, exc_info=exc)
            return
        try:
            handler(exc)
        except Exception:
            self._log.exception("error handler failed on callback error for path %r", path)
