"""The inspector widget driven headlessly through its traits and commands."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable

import pytest

from agui_state import PersistentStateStore, StateStore, create_backend
from agui_state.jupyter import StateInspector, inspect
from agui_state.jupyter.inspector.widget import WIDGET_MIME
from tests.jupyter.inspector.conftest import XSS, Seeded


def test_open_lists_states_and_selects_head(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    assert [s["state_id"] for s in w.states["items"]] == ["other", "thread-1"]
    assert {s["state_id"]: s["head"] for s in w.states["items"]} == {"other": 1, "thread-1": 6}
    assert w.state_id == "thread-1" and w.head == 6 and w.version == 6
    assert [line["number"] for line in w.log["items"]] == [6, 5, 4, 3, 2, 1]
    assert w.log["items"][3]["summary"] == "add /cart/items/0, replace /cart/total"
    assert w.log["items"][0]["run_id"] == "run-3"
    assert w.error == ""


def test_state_filter_pages_states(seeded: Seeded) -> None:
    w = inspect(seeded.backend)
    w.state_filter = "THREAD"
    assert [s["state_id"] for s in w.states["items"]] == ["thread-1"]
    w.state_filter = "nothing-like-this"
    assert w.states["items"] == []


def test_select_state_command_and_version_trait(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.command("select_state", state_id="other")
    assert (w.state_id, w.head) == ("other", 1)
    w.state_id = "thread-1"
    w.version = 2
    rows = {row["path"]: row for row in w.view["rows"]}
    assert "/ticks" not in rows and rows["/note"]["value"] == json.dumps(XSS)
    w.command("step", delta=1)
    assert w.version == 3
    w.command("step", delta=100)
    assert w.version == 6


def test_diff_vs_parent_matches_array_items_by_id(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.version = 3
    w.tab = "diff"
    rows = [(r["op"], r["label"], r["old"], r["new"]) for r in w.view["rows"]]
    # Inserting "c" at index 0 is one added item, not every item changed.
    assert rows == [
        ("add", "/cart/items[id=c]", None, '{"id":"c","qty":5}'),
        ("replace", "/cart/total", "3", "8"),
    ]
    assert (w.view["from"], w.view["to"]) == (2, 3)


def test_diff_between_any_two_versions(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.command("diff", a=1, b=6)
    assert w.tab == "diff" and (w.view["from"], w.view["to"]) == (1, 6)
    labels = {r["label"]: (r["op"], r["old"], r["new"]) for r in w.view["rows"]}
    assert labels == {
        "/cart/items[id=c]": ("add", None, '{"id":"c","qty":5}'),
        "/cart/items[id=a]/qty": ("replace", "1", "9"),
        "/cart/total": ("replace", "3", "8"),
        "/note": ("add", None, json.dumps(XSS)),
        "/ticks": ("add", None, "2"),
    }
    w.diff_from = -1
    assert w.view["from"] == 5


def test_log_filters_path_run_and_hidden(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.log_path = "/cart"
    assert [i["number"] for i in w.log["items"]] == [6, 3, 1]
    w.log_path = ""
    w.log_run = "run-2"
    assert [i["number"] for i in w.log["items"]] == [5, 4, 3]
    w.log_run = ""
    w.command("hide_path", path="/ticks")
    assert w.hidden_paths == ["/ticks"]
    assert [i["number"] for i in w.log["items"]] == [6, 3, 2, 1]
    w.command("show_path", path="/ticks")
    assert len(w.log["items"]) == 6


def test_search_highlights_and_expands_parents(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.search = "QTY"
    assert w.search_info["total"] == 3
    assert w.search_info["hits"] == ["/cart/items/0/qty", "/cart/items/1/qty", "/cart/items/2/qty"]
    matched = [r["path"] for r in w.view["rows"] if r["match"]]
    assert matched == w.search_info["hits"]  # parents expanded: hits are visible rows


def test_pin_is_kept_while_stepping(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.command("pin", path="/cart/total")
    assert w.view["rows"][0]["value"] == "8"
    w.version = 2
    assert w.pinned == "/cart/total" and w.view["rows"][0]["value"] == "3"
    w.version = 0
    assert w.view["missing"] is True and w.view["rows"] == []


def test_copy_value_and_pointer(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.command("copy", path="/cart/items/0", what="value")
    assert json.loads(w.clipboard) == {"id": "c", "qty": 5}
    w.command("copy", path="/cart/items/0", what="pointer")
    assert w.clipboard == "/cart/items/0"


def test_tree_toggle_and_more(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    paths = [r["path"] for r in w.view["rows"]]
    assert paths == ["", "/cart", "/note", "/ticks"]
    w.command("toggle", path="/cart")
    assert "/cart/items" in [r["path"] for r in w.view["rows"]]
    w.command("toggle", path="/cart")
    assert "/cart/items" not in [r["path"] for r in w.view["rows"]]


def test_patch_tab_shows_ops_and_metadata(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.version = 3
    w.tab = "patch"
    assert [(o["op"], o["path"]) for o in w.view["ops"]] == [
        ("add", "/cart/items/0"),
        ("replace", "/cart/total"),
    ]
    assert json.loads(w.view["metadata"]) == {"agui": {"run_id": "run-2"}}
    assert w.view["run_id"] == "run-2"


def test_snapshot_inspect_and_diff_against_head(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.tab = "snapshots"
    assert [(s["label"], s["version"]) for s in w.view["items"]] == [("before-c", 2)]
    w.command("snapshot", snapshot_id=seeded.snapshot_id, against="head")
    sel = w.view["selected"]
    assert sel["version"] == 2 and sel["against_version"] == 6
    assert ("add", "/cart/items[id=c]") in [(r["op"], r["label"]) for r in sel["diff"]]
    w.version = 2
    w.command("snapshot", snapshot_id=seeded.snapshot_id, against="selected")
    assert w.view["selected"]["diff"] == []


def test_restore_needs_confirm_then_writes_a_version(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.command("restore", snapshot_id=seeded.snapshot_id)
    assert w.confirm["action"] == "restore" and "before-c" in w.confirm["message"]
    assert seeded.backend.head_version("thread-1") == 6  # nothing written yet
    w.command("cancel")
    assert w.confirm == {} and seeded.backend.head_version("thread-1") == 6
    w.command("restore", snapshot_id=seeded.snapshot_id)
    w.command("confirm")
    assert seeded.backend.head_version("thread-1") == 7
    assert w.head == 7 and w.version == 7 and "version 7" in w.message
    restored = seeded.backend.get_version("thread-1", 7)
    assert restored.metadata["restored_snapshot"] == seeded.snapshot_id
    assert seeded.backend.get_state("thread-1") == seeded.backend.state_at("thread-1", 2)
    w.command("confirm")  # nothing pending any more
    assert "nothing to confirm" in w.error


def test_fork_creates_a_state_from_that_version(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.version = 2
    w.command("fork")
    assert w.confirm["new_state_id"] == "thread-1-fork-v2"
    assert not seeded.backend.exists("thread-1-fork-v2")
    w.command("confirm")
    assert w.error == ""
    assert seeded.backend.get_state("thread-1-fork-v2") == seeded.backend.state_at("thread-1", 2)
    assert seeded.backend.head_version("thread-1-fork-v2") == 1
    assert w.state_id == "thread-1-fork-v2"
    first = seeded.backend.get_version("thread-1-fork-v2", 1)
    assert first.metadata["forked_from"] == {"state_id": "thread-1", "version": 2}
    assert seeded.backend.head_version("thread-1") == 6  # the original is untouched
    w.command("fork", new_state_id="other")
    w.command("confirm")
    assert "already exists" in w.error and seeded.backend.head_version("other") == 1


@pytest.mark.parametrize(
    ("cmd", "args", "needle"),
    [
        ("no_such_command", {}, "unknown inspector command 'no_such_command'"),
        ("select_state", {"state_id": "missing"}, "missing"),
        ("select_version", {"number": 99}, "from 0 to 6"),
        ("restore", {"snapshot_id": "nope"}, "nope"),
        ("copy", {"path": "/no/such"}, "/no/such"),
        ("step", {}, "bad arguments for 'step'"),
    ],
)
def test_bad_commands_set_a_readable_error(
    seeded: Seeded, cmd: str, args: dict[str, object], needle: str
) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.command(cmd, **args)
    assert needle in w.error
    assert w.state_id == "thread-1" and w.head == 6  # the view is unchanged
    w.command("select_version", number=1)
    assert w.error == ""  # a good command clears it


def test_bad_message_from_browser_and_bad_tab(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w._on_msg(w, {"nocmd": 1}, [])
    assert "bad message" in w.error
    w._on_msg(w, {"cmd": "select_version", "number": 4}, [])
    assert w.error == "" and w.version == 4
    w.tab = "bogus"
    assert "unknown tab" in w.error and w.tab == "state"


def test_xss_value_is_plain_data_and_escaped_in_fallback(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    note = next(r for r in w.view["rows"] if r["path"] == "/note")
    assert note["value"] == json.dumps(XSS)  # plain data; the JS sets it as textContent
    data, _ = w._repr_mimebundle_()
    assert XSS not in data["text/html"]
    assert html.escape(json.dumps(XSS)) in data["text/html"]
    assert "<img" not in data["text/html"]


def test_mimebundle_is_stable_and_keeps_the_widget_view(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    data, _ = w._repr_mimebundle_()
    assert data["text/plain"] == (
        "StateInspector(source='file', state_id='thread-1', version=6, head=6)"
    )
    assert "0x" not in data["text/plain"] and "0x" not in data["text/html"]
    assert data[WIDGET_MIME]["model_id"] == w.model_id
    assert "version 6 of 6" in data["text/html"]
    assert data == w._repr_mimebundle_()[0]


def test_url_source_and_refresh_picks_up_new_versions(seeded: Seeded) -> None:
    w = StateInspector(seeded.url, "thread-1")
    try:
        with PersistentStateStore(seeded.backend, "thread-1") as store:
            store.set("/ticks", 3)
        assert w.head == 6
        w.command("refresh")
        assert w.head == 7 and w.log["items"][0]["number"] == 7
    finally:
        w.close()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` (live updates arrive on a timer thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_live_store_subscription_shows_new_versions() -> None:
    store = StateStore("live")
    store.set("/a", 1)
    w = StateInspector(store)
    assert w.live and (w.state_id, w.head) == ("live", 1)
    for value in range(2, 12):  # a burst: drawn once, after it
        store.set("/a", value)
    assert wait_for(lambda: w.head == 11)
    assert w.version == 11 and w.log["items"][0]["number"] == 11
    w.close()
    store.set("/a", 99)
    time.sleep(0.3)
    assert w.head == 11  # unsubscribed on close


def test_polling_a_url_picks_up_new_versions(seeded: Seeded) -> None:
    w = StateInspector(seeded.url, "thread-1")
    try:
        w.poll_seconds = 0.5
        with PersistentStateStore(seeded.backend, "thread-1") as store:
            store.set("/ticks", 3)
        assert wait_for(lambda: w.head == 7)
        w.poll_seconds = 0
        with PersistentStateStore(seeded.backend, "thread-1") as store:
            store.set("/ticks", 4)
        time.sleep(1.0)
        assert w.head == 7  # polling stopped
    finally:
        w.close()


def test_live_persistent_store(tmp_path: object, file_url: str) -> None:
    backend = create_backend(file_url)
    try:
        with PersistentStateStore(backend, "p") as store:
            store.set("/a", 1)
            w = StateInspector(store)
            assert (w.state_id, w.head) == ("p", 1)
            store.set("/a", 2)
            assert wait_for(lambda: w.head == 2)
            w.close()
    finally:
        backend.close()


def test_statestore_fork_is_a_readable_error() -> None:
    store = StateStore("only")
    store.set("/a", 1)
    w = StateInspector(store)
    w.command("fork")
    w.command("confirm")
    assert "fork needs a backend" in w.error


def test_bad_source_names_the_argument() -> None:
    from agui_state import ValidationError

    with pytest.raises(ValidationError, match="source"):
        StateInspector(42)


def test_stats_tab_has_figures_and_series(seeded: Seeded) -> None:
    w = StateInspector(seeded.backend, "thread-1")
    w.tab = "stats"
    rows = dict(w.view["rows"])
    assert rows["head_version"] == "6" and rows["backend.backend_type"] == "file"
    assert [n for _, n in w.view["versions_over_time"]] == [1, 2, 3, 4, 5, 6]
    sizes = w.view["size_over_versions"]
    assert [n for n, _ in sizes] == list(range(7)) and sizes[0][1] == 2  # "{}"
    assert sizes[0][1] < sizes[1][1] < sizes[2][1] < sizes[3][1]


def test_log_pages_through_a_longer_history(file_url: str) -> None:
    backend = create_backend(file_url)
    try:
        with PersistentStateStore(backend, "long") as store:
            for i in range(120):
                store.set("/i", i)
        w = StateInspector(backend, "long")
        assert [x["number"] for x in w.log["items"]][:2] == [120, 119]
        assert len(w.log["items"]) == 50
        w.command("log_older")
        assert w.log["items"][0]["number"] == 70
        w.command("log_older")
        assert [x["number"] for x in w.log["items"]][-1] == 1 and w.log["next_before"] is None
        w.command("log_newer")
        assert w.log["items"][0]["number"] == 70
        w.version = 30
        w.command("log_selected")
        assert 30 in [x["number"] for x in w.log["items"]]
        w.command("log_newest")
        assert w.log["items"][0]["number"] == 120
    finally:
        backend.close()


def test_states_pane_pages_through_many_states(file_url: str) -> None:
    backend = create_backend(file_url)
    try:
        for i in range(120):
            backend.set_state(f"s-{i:03d}", {"i": i})
        w = StateInspector(backend)
        assert w.state_id == "s-000"
        assert len(w.states["items"]) == 50 and w.states["has_more"]
        w.command("states_page", page=2)
        assert [s["state_id"] for s in w.states["items"]][:1] == ["s-100"]
        assert len(w.states["items"]) == 20 and not w.states["has_more"]
        w.state_filter = "-11"
        assert [s["state_id"] for s in w.states["items"]] == [f"s-11{i}" for i in range(10)]
        assert w.states["page"] == 0
    finally:
        backend.close()
