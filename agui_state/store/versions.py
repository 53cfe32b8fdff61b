"""The version-history read side of :class:`~agui_state.store.StateStore`.

Internal module of the store layer: the bodies of ``get_version``,
``history`` and ``state_at``, as functions the store delegates to. They take
the pieces of the store they read (its :class:`~agui_state.store.history.History`,
the lock that guards it against a publishing writer, and a getter for the
current head) rather than the store itself, so this module depends on
nothing in :mod:`agui_state.store`. None of this is on the write path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from agui_state.errors import NotFoundError, ValidationError
from agui_state.models import State, StateVersion, replay
from agui_state.store.history import History
from agui_state.store.jsonutil import copy_json, export_version

__all__ = ["check_int", "get_version", "newest_versions", "state_at"]


class CurrentHead(Protocol):
    """What :func:`state_at` reads from the store's published head."""

    @property
    def state(self) -> State: ...

    @property
    def number(self) -> int: ...


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) ``>= minimum``.

    Raises:
        ValidationError: Otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def get_version(
    history: History, lock: threading.Lock, state_id: str, number_or_id: int | str
) -> StateVersion:
    """Return a copy of one kept version, by number or by id.

    Raises:
        ValidationError: Neither an int nor a str.
        NotFoundError: No such version in the kept window.
    """
    if isinstance(number_or_id, bool) or not isinstance(number_or_id, (int, str)):
        raise ValidationError("version", f"must be a number or an id, got {number_or_id!r}")
    with lock:
        if isinstance(number_or_id, int):
            found = history.get(number_or_id)
        else:
            found = history.by_id(number_or_id)
    if found is None:
        raise NotFoundError("version", state_id, number_or_id)
    return export_version(found)


def newest_versions(
    history: History, lock: threading.Lock, limit: int, before: int | None
) -> list[StateVersion]:
    """Return copies of up to ``limit`` kept versions numbered below ``before``, newest first.

    Raises:
        ValidationError: ``limit`` or ``before`` is not a non-negative int.
    """
    check_int("limit", limit, 0)
    if before is not None:
        check_int("before", before, 0)
    with lock:
        found = history.newest_first(limit, before)
    return [export_version(v) for v in found]


def state_at(
    history: History,
    lock: threading.Lock,
    current: Callable[[], CurrentHead],
    state_id: str,
    version: int,
) -> dict[str, Any]:
    """Return a copy of the state right after ``version``.

    ``current`` is called under ``lock`` so the head and the replay plan are
    read from the same published moment (a writer swaps both under it).

    Raises:
        ValidationError: ``version`` is not an int.
        NotFoundError: ``version`` is in the future or older than the kept window.
    """
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationError("version", f"must be an integer, got {version!r}")
    with lock:
        head = current()
        plan = None if version == head.number else history.replay_plan(version)
    if version == head.number:
        state = head.state
    elif plan is not None:
        state = replay(plan[0], plan[1], state_id)
    elif version == 0:
        return {}
    else:
        raise NotFoundError("version", state_id, version)
    result: dict[str, Any] = copy_json(state)
    return result
