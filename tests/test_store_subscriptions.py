"""StateStore subscriptions: which writes notify, ordering, errors, re-entrancy."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agui_state.errors import InvalidPathError, ValidationError
from agui_state.store import StateChange, StateStore


@pytest.fixture
def store() -> StateStore:
    s = StateStore("subs")
    s.set("", {"a": {"b": 1}, "ab": 0, "list": [10, 20, 30]})
    return s


def watch(store: StateStore, path: str) -> list[StateChange]:
    got: list[StateChange] = []
    store.subscribe(path, got.append)
    return got


def test_change_carries_old_new_and_the_version(store: StateStore) -> None:
    got = watch(store, "/a/b")
    v = store.set("/a/b", 2)
    assert len(got) == 1
    change = got[0]
    assert (change.path, change.old, change.new) == ("/a/b", 1, 2)
    assert (change.existed_before, change.exists_after) == (True, True)
    assert change.version == v
    store.delete("/a/b")
    assert (got[1].old, got[1].new, got[1].existed_before, got[1].exists_after) == (
        2,
        None,
        True,
        False,
    )
    store.set("/a/b", None)
    assert (got[2].old, got[2].new, got[2].existed_before, got[2].exists_after) == (
        None,
        None,
        False,
        True,
    )


def test_fires_for_the_path_its_descendants_and_its_ancestors(store: StateStore) -> None:
    got = watch(store, "/a")
    store.set("/a/b", 5)  # below
    store.set("/a", {"b": 6})  # the path itself
    store.set("", {"a": {"b": 7}, "ab": 0, "list": []})  # an ancestor
    store.apply_patch([{"op": "move", "from": "/a", "path": "/moved"}])  # moved away
    assert [c.new for c in got] == [{"b": 5}, {"b": 6}, {"b": 7}, None]


def test_token_prefixes_not_string_prefixes(store: StateStore) -> None:
    got = watch(store, "/a")
    store.set("/ab", 1)
    store.set("/abc", 1)
    assert got == []


def test_no_notification_when_the_value_did_not_change(store: StateStore) -> None:
    got = watch(store, "/a")
    store.set("/a/b", 1)  # same value
    store.set("", store.get_state())  # root replaced by an equal document
    store.apply_patch([{"op": "test", "path": "/a/b", "value": 1}])
    store.set("/other", 1)
    assert got == []


def test_array_shifts_notify_the_shifted_elements(store: StateStore) -> None:
    got = watch(store, "/list/1")
    store.apply_patch([{"op": "add", "path": "/list/0", "value": 5}])
    assert (got[-1].old, got[-1].new) == (20, 10)
    store.apply_patch([{"op": "remove", "path": "/list/0"}])
    assert (got[-1].old, got[-1].new) == (10, 20)
    store.set("/list/-", 40)  # appending does not move element 1
    assert len(got) == 2


def test_callbacks_run_in_subscription_order_and_version_order(store: StateStore) -> None:
    calls: list[tuple[str, int]] = []
    store.subscribe("/a", lambda c: calls.append(("first", c.version.number)))
    store.subscribe("", lambda c: calls.append(("root", c.version.number)))
    store.subscribe("/a/b", lambda c: calls.append(("third", c.version.number)))
    store.set("/a/b", 2)
    store.set("/a/b", 3)
    assert calls == [
        ("first", 2),
        ("root", 2),
        ("third", 2),
        ("first", 3),
        ("root", 3),
        ("third", 3),
    ]


def test_raising_callback_goes_to_the_error_handler(store: StateStore) -> None:
    errors: list[BaseException] = []
    store.set_error_handler(errors.append)
    after: list[int] = []

    def bad(change: StateChange) -> None:
        raise RuntimeError("subscriber bug")

    store.subscribe("/a", bad)
    store.subscribe("/a", lambda c: after.append(c.version.number))
    v = store.set("/a/b", 2)
    assert store.get("/a/b") == 2 and store.version == v.number  # the write stands
    assert [str(e) for e in errors] == ["subscriber bug"]
    assert after == [2]


def test_default_error_handler_logs_with_traceback(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    def bad(change: StateChange) -> None:
        raise ValueError("oops")

    store.subscribe("/a", bad)
    with caplog.at_level(logging.ERROR, logger="agui_state.store"):
        store.set("/a/b", 2)
    record = next(r for r in caplog.records if "'/a'" in r.getMessage())
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


def test_a_raising_error_handler_is_logged_and_contained(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(exc: BaseException) -> None:
        raise RuntimeError("handler bug")

    store.set_error_handler(handler)
    store.subscribe("/a", lambda c: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="agui_state.store"):
        store.set("/a/b", 2)
    assert any("error handler failed" in r.getMessage() for r in caplog.records)
    store.set_error_handler(None)
    with pytest.raises(ValidationError):
        store.set_error_handler("not callable")  # type: ignore[arg-type]


def test_custom_logger_is_used() -> None:
    logger = logging.getLogger("my.app.state")
    store = StateStore("x", logger=logger)
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    logger.addHandler(handler)
    try:
        store.subscribe("", lambda c: 1 / 0)
        store.set("/a", 1)
    finally:
        logger.removeHandler(handler)
    assert records and records[0].name == "my.app.state"


def test_unsubscribe_stops_notifications_and_is_idempotent(store: StateStore) -> None:
    got: list[StateChange] = []
    unsubscribe = store.subscribe("/a", got.append)
    store.set("/a/b", 2)
    unsubscribe()
    unsubscribe()
    store.set("/a/b", 3)
    assert len(got) == 1


def test_unsubscribing_inside_a_callback(store: StateStore) -> None:
    calls: list[str] = []
    unsubscribe_second: Any = None

    def first(change: StateChange) -> None:
        calls.append("first")
        unsubscribe_second()

    store.subscribe("/a", first)
    unsubscribe_second = store.subscribe("/a", lambda c: calls.append("second"))
    store.set("/a/b", 2)
    store.set("/a/b", 3)
    assert calls == ["first", "first"]


def test_subscribe_validates_its_arguments(store: StateStore) -> None:
    with pytest.raises(InvalidPathError):
        store.subscribe("no-slash", lambda c: None)
    with pytest.raises(ValidationError):
        store.subscribe("/a", "not callable")  # type: ignore[arg-type]


def test_changes_are_private_copies(store: StateStore) -> None:
    kept: list[StateChange] = []

    def meddle(change: StateChange) -> None:
        change.new["b"] = "meddled"
        change.version.delta.clear()
        kept.append(change)

    store.subscribe("/a", meddle)
    got = watch(store, "/a")
    store.set("/a/b", 2)
    assert store.get("/a") == {"b": 2}
    assert kept[0].new == {"b": 2}  # every read is a fresh copy
    assert got[0].new == {"b": 2} and got[0].version.delta != []
    assert store.get_version(2).delta == [{"op": "replace", "path": "/a/b", "value": 2}]
    assert "'/a'" in repr(got[0]) and "version=2" in repr(got[0])


def test_values_are_only_copied_when_read(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agui_state.store.subscriptions as subscriptions

    copied: list[Any] = []
    real = subscriptions.copy_json

    def spy(value: Any) -> Any:
        copied.append(value)
        return real(value)

    monkeypatch.setattr(subscriptions, "copy_json", spy)
    numbers: list[int] = []
    store.subscribe("", lambda change: numbers.append(change.existed_before))
    store.set("/big", list(range(1000)))
    assert numbers == [True] and copied == []


def test_a_callback_may_read_and_write_the_store(store: StateStore) -> None:
    seen: list[tuple[str, int, int]] = []

    def on_a(change: StateChange) -> None:
        seen.append(("a", change.version.number, store.version))
        if change.new == {"b": 2}:
            store.set("/derived", store.get("/a/b") * 10)  # a write from inside a callback

    def on_root(change: StateChange) -> None:
        seen.append(("root", change.version.number, store.version))

    store.subscribe("/a", on_a)
    store.subscribe("", on_root)
    v = store.set("/a/b", 2)
    assert store.get("/derived") == 20
    # All callbacks of version 2 ran before any of version 3 (the nested write),
    # and the nested write's callbacks ran before the outer set() returned.
    assert [(k, n) for k, n, _ in seen] == [("a", 2), ("root", 2), ("root", 3)]
    assert seen[1][2] == 3  # the nested write was already published
    assert v.number == 2 and store.version == 3


def test_new_subscribers_only_hear_about_later_versions(store: StateStore) -> None:
    late: list[StateChange] = []

    def first(change: StateChange) -> None:
        if not late and change.version.number == 2:
            store.subscribe("/a", late.append)

    store.subscribe("/a", first)
    store.set("/a/b", 2)
    assert late == []
    store.set("/a/b", 3)
    assert [c.version.number for c in late] == [3]


def test_load_history_notifies_nobody_and_later_writes_do(store: StateStore) -> None:
    got = watch(store, "/a")
    store.load_history(0, {"a": {"b": "loaded"}}, [])
    assert got == []
    store.set("/a/b", "after")
    assert [(c.old, c.new, c.version.number) for c in got] == [({"b": "loaded"}, {"b": "after"}, 1)]


def test_transactions_and_restores_notify_once(store: StateStore) -> None:
    got = watch(store, "/a/b")
    snap = store.create_snapshot()
    with store.transaction() as tx:
        tx.set("/a/b", 2)
        tx.set("/a/b", 3)
    store.restore_snapshot(snap)
    assert [(c.old, c.new) for c in got] == [(1, 3), (3, 1)]
