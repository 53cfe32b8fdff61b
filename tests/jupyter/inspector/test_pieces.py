"""The inspector's pure parts: id-matched diff, tree rows, search, log filters, previews."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agui_state import PersistentStateStore, StateVersion, create_backend
from agui_state.jupyter.inspector.diffing import diff_rows
from agui_state.jupyter.inspector.log import LogFilter, log_page
from agui_state.jupyter.inspector.reader import Reader
from agui_state.jupyter.inspector.travel import document_at
from agui_state.jupyter.inspector.tree import CHILDREN_PAGE, TreeView, search
from agui_state.jupyter.inspector.values import preview


def test_diff_matches_ids_and_falls_back_to_indices() -> None:
    old = {"items": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]}
    new = {"items": [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}]}
    rows, cut = diff_rows(old, new)
    assert not cut
    assert [(r["op"], r["path"], r["label"]) for r in rows] == [
        ("remove", "/items/0", "/items[id=1]"),
        ("replace", "/items/0/v", "/items[id=2]/v"),
        ("add", "/items/1", "/items[id=3]"),
    ]
    # Without ids (or with duplicate ids) items are compared by position.
    rows, _ = diff_rows({"l": [1, 2]}, {"l": [0, 1, 2]})
    assert [(r["op"], r["path"]) for r in rows] == [
        ("replace", "/l/0"),
        ("replace", "/l/1"),
        ("add", "/l/2"),
    ]
    dup = [{"id": 1, "v": 1}, {"id": 1, "v": 2}]
    rows, _ = diff_rows({"l": dup}, {"l": dup[::-1]})
    assert [r["path"] for r in rows] == ["/l/0/v", "/l/1/v"]


def test_diff_escapes_pointer_tokens_and_is_bounded() -> None:
    rows, _ = diff_rows({}, {"a/b": 1, "m~n": 2})
    assert [r["path"] for r in rows] == ["/a~1b", "/m~0n"]
    rows, cut = diff_rows({}, {str(i): i for i in range(20)}, limit=5)
    assert len(rows) == 5 and cut
    assert diff_rows({"a": 1}, {"a": 1.0}) == ([], False)
    assert diff_rows({"a": 1}, {"a": True})[0][0]["op"] == "replace"


def test_tree_pages_children_and_search_reveals_deep_hits() -> None:
    doc = {"big": list(range(250)), "deep": {"a": {"b": {"needle": "x"}}}}
    view = TreeView()
    rows, cut = view.rows(doc)
    assert [r["path"] for r in rows] == ["", "/big", "/deep"] and not cut
    view.toggle("/big")
    rows, _ = view.rows(doc)
    assert rows[-2]["kind"] == "more" and rows[-2]["size"] == 250 - CHILDREN_PAGE
    view.show_more("/big")
    rows, _ = view.rows(doc)
    assert next(r for r in rows if r["kind"] == "more")["size"] == 50
    result = search(doc, "NEEDLE")
    assert (result.total, result.hits) == (1, ["/deep/a/b/needle"])
    view.reveal(result)
    rows, _ = view.rows(doc)
    assert [r["path"] for r in rows if r["match"]] == ["/deep/a/b/needle"]
    # A hit past the page limit of an array becomes visible too.
    result = search(doc, "249")
    view.reveal(result)
    rows, _ = view.rows(doc)
    assert "/big/249" in [r["path"] for r in rows if r["match"]]


def test_search_matches_keys_numbers_booleans_and_null() -> None:
    doc = {"Total": 42, "flag": True, "none": None, "s": "Hello"}
    assert search(doc, "total").hits == ["/Total"]
    assert search(doc, "42").hits == ["/Total"]
    assert search(doc, "true").hits == ["/flag"]
    assert search(doc, "null").hits == ["/none"]
    assert search(doc, "hell").hits == ["/s"]
    assert search(doc, "").total == 0


def _version(n: int, paths: list[str], run: str | None = None) -> StateVersion:
    meta = {"agui": {"run_id": run}} if run else {}
    delta = [{"op": "replace", "path": p, "value": n} for p in paths]
    return StateVersion(f"v{n}", "s", n, None, datetime(2026, 1, 1, tzinfo=UTC), delta, meta)


def test_log_filters_are_token_wise_and_pages_continue() -> None:
    versions = [
        _version(5, ["/ab"], "r2"),
        _version(4, ["/a/x"], "r2"),
        _version(3, ["/noise"], "r1"),
        _version(2, ["/a", "/noise"], "r1"),
        _version(1, ["/b"]),
    ]
    lines, nxt, scanned = log_page(iter(versions), LogFilter(path="/a"))
    assert [x["number"] for x in lines] == [4, 2] and nxt is None and scanned == 5
    lines, _, _ = log_page(iter(versions), LogFilter(run_id="r1"))
    assert [x["number"] for x in lines] == [3, 2]
    lines, _, _ = log_page(iter(versions), LogFilter(hidden=("/noise",)))
    assert [x["number"] for x in lines] == [5, 4, 2, 1]
    lines, nxt, _ = log_page(iter(versions), LogFilter(), page=2)
    assert [x["number"] for x in lines] == [5, 4] and nxt == 4


def test_preview_truncates_and_summarises_big_containers() -> None:
    assert preview("<b>x</b>") == '"<b>x</b>"'
    assert preview("x" * 1000).endswith("…") and len(preview("x" * 1000)) == 300
    assert preview(list(range(100))) == "[… 100 items]"


def test_time_travel_matches_the_backend_at_every_version(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/d?checkpoint_interval=4"
    backend = create_backend(url)
    try:
        with PersistentStateStore(backend, "s") as store:
            store.set("/items", [])
            for i in range(17):
                store.apply_patch(
                    [
                        {"op": "add", "path": "/items/-", "value": {"id": i}},
                        {"op": "replace", "path": "/n", "value": i}
                        if i
                        else {"op": "add", "path": "/n", "value": 0},
                    ]
                )
                if i % 5 == 0:
                    store.apply_patch([{"op": "remove", "path": "/items/0"}])
        reader = Reader(backend)
        head = backend.head_version("s")
        kept: dict[int, dict[str, object]] = {}
        for n in range(head + 1):
            doc = document_at(reader, "s", n, head, {}, kept.__setitem__)
            assert doc == backend.state_at("s", n), n
        for n, doc in kept.items():
            assert doc == backend.state_at("s", n)
        # Starting from a nearer document already known gives the same answer.
        known = {9: backend.state_at("s", 9)}
        assert document_at(reader, "s", 11, head, known, kept.__setitem__) == backend.state_at(
            "s", 11
        )
    finally:
        backend.close()


def test_diff_of_same_length_lists_compares_only_changed_items() -> None:
    shared = [{"id": f"m{i}", "n": i} for i in range(1000)]
    new = list(shared)
    new[500] = {"id": "m500", "n": -1}
    rows, _ = diff_rows({"messages": shared}, {"messages": new})
    assert [(r["path"], r["label"], r["old"], r["new"]) for r in rows] == [
        ("/messages/500/n", "/messages[id=m500]/n", "500", "-1")
    ]
    # An item replaced by another id at the same index: matched by id instead.
    moved = list(shared)
    moved[3] = {"id": "new", "n": 3}
    rows, _ = diff_rows({"messages": shared}, {"messages": moved})
    assert [(r["op"], r["label"]) for r in rows] == [
        ("remove", "/messages[id=m3]"),
        ("add", "/messages[id=new]"),
    ]
