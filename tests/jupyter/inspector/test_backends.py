"""The inspector on every real backend: open, select, step, diff, search, restore."""

from __future__ import annotations

import json

from agui_state import create_backend
from agui_state.jupyter import StateInspector
from tests.jupyter.inspector.conftest import XSS, seed


def test_open_select_diff_on_each_backend(any_url: str) -> None:
    backend = create_backend(any_url)
    try:
        seeded = seed(backend, any_url)
        w = StateInspector(any_url)  # opened from the URL: its own backend
        try:
            assert [s["state_id"] for s in w.states["items"]] == ["other", "thread-1"]
            w.command("select_state", state_id="thread-1")
            assert (w.head, w.version) == (6, 6)
            assert [line["number"] for line in w.log["items"]] == [6, 5, 4, 3, 2, 1]
            w.version = 3
            w.tab = "diff"
            assert [(r["op"], r["label"]) for r in w.view["rows"]] == [
                ("add", "/cart/items[id=c]"),
                ("replace", "/cart/total"),
            ]
            w.tab = "state"
            w.search = "onerror"
            assert w.search_info["hits"] == ["/note"]
            note = next(r for r in w.view["rows"] if r["path"] == "/note")
            assert note["value"] == json.dumps(XSS)
            w.command("restore", snapshot_id=seeded.snapshot_id)
            w.command("confirm")
            assert w.error == "" and w.head == 7
            assert backend.head_version("thread-1") == 7
        finally:
            w.close()
    finally:
        backend.close()
