"""Rich display: escaped, collapsible HTML cards and stable text for every result object."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from IPython.core.formatters import DisplayFormatter

from agui_state import PersistentStateStore, StateStore
from agui_state.jupyter import diff
from agui_state.models import StateSnapshot, StateVersion

EVIL_KEY = "<img src=x onerror=alert(1)>"
EVIL_VALUE = "</details><script>alert(1)</script>"


def _bundle(obj: Any) -> dict[str, str]:
    data, _ = DisplayFormatter().format(obj)
    return data


def _assert_escaped(html: str) -> None:
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;/details&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The content cannot close our elements: every <details> is still balanced.
    assert html.count("<details") == html.count("</details>") > 0


def _evil_store() -> StateStore:
    store = StateStore("evil")
    store.set("/cart", {EVIL_KEY: EVIL_VALUE}, metadata={"run_id": EVIL_VALUE})
    store.set(f"/cart/{EVIL_KEY}", [EVIL_KEY, EVIL_VALUE], metadata={"run_id": "r2"})
    return store


def test_every_html_repr_escapes_state_content(tmp_path: Path) -> None:
    store = _evil_store()
    snap = store.create_snapshot(EVIL_VALUE, metadata={EVIL_KEY: 1})
    objects: list[Any] = [
        store.get_version(1),
        store.get_version(2),
        snap,
        store,
        diff(store, None, 2),
        diff(store, None, 0, 2),
    ]
    with PersistentStateStore(f"file://{tmp_path}", "evil") as persistent:
        persistent.set("/x", {EVIL_KEY: EVIL_VALUE}, metadata={"run_id": EVIL_KEY})
        objects.append(persistent)
        for obj in objects:
            html = _bundle(obj)["text/html"]
            _assert_escaped(html)


def test_cards_show_version_run_time_and_ops() -> None:
    store = StateStore("s")
    store.set("/cart", {"total": 3}, metadata={"run_id": "run-1"})
    version = store.set("/cart/total", 5, metadata={"agui": {"run_id": "run-2"}})
    html = _bundle(store.get_version(2))["text/html"]
    assert "StateVersion 2" in html and "run-2" in html and "replace /cart/total" in html
    assert version.timestamp.isoformat(timespec="milliseconds") in html
    store_html = _bundle(store)["text/html"]
    assert "StateStore" in store_html and "run-2" in store_html and "<details>" in store_html
    diff_html = _bundle(diff(store, None, 2))["text/html"]
    assert "version 1" in diff_html and "version 2" in diff_html and "/cart/total" in diff_html


def _no_address(text: str) -> None:
    assert re.search(r"0x[0-9a-f]{6,}", text) is None, text


def test_text_reprs_are_stable(tmp_path: Path) -> None:
    store = StateStore("s")
    v1 = store.set("/cart", {"total": 3}, metadata={"run_id": "run-1"})
    snap = store.create_snapshot("first")
    stamp = v1.timestamp.isoformat(timespec="milliseconds")
    texts = {
        "version": _bundle(store.get_version(1))["text/plain"],
        "snapshot": _bundle(snap)["text/plain"],
        "store": _bundle(store)["text/plain"],
        "diff": _bundle(diff(store, None, 1))["text/plain"],
    }
    assert texts["version"] == (
        f"StateVersion(state_id='s', number=1, run='run-1', time={stamp}, ops=1: add /cart)"
    )
    assert texts["snapshot"].startswith(f"StateSnapshot(state_id='s', id={snap.id!r}, version=1")
    assert texts["store"] == "StateStore(state_id='s', version=1)"
    assert texts["diff"] == "StateDiff(state_id='s', version 0 -> version 1, ops=1: add /cart)"
    with PersistentStateStore(f"file://{tmp_path}", "p") as persistent:
        texts["persistent"] = _bundle(persistent)["text/plain"]
        assert _bundle(persistent)["text/plain"] == texts["persistent"]
    for text in texts.values():
        _no_address(text)
    # Same object, same output: nothing random or clock-based of its own.
    assert _bundle(store.get_version(1)) == _bundle(store.get_version(1))
    assert _bundle(diff(store, None, 1)) == _bundle(diff(store, None, 1))


@pytest.mark.parametrize("size", [10, 300_000])
def test_document_view_is_capped(size: int) -> None:
    store = StateStore("big")
    store.set("/blob", "x" * size)
    html = _bundle(store)["text/html"]
    assert len(html) < 110_000
    assert ("more characters not shown" in html) == (size > 100_000)


def test_snapshot_and_version_models_render_without_a_store() -> None:
    from datetime import UTC, datetime

    ts = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    version = StateVersion("v-id", "s", 3, "p-id", ts, [{"op": "remove", "path": "/a"}], {})
    snap = StateSnapshot("snap-id", "s", 3, ts, {"a": 1}, None, {})
    assert _bundle(version)["text/plain"] == (
        "StateVersion(state_id='s', number=3, time=2026-01-02T03:04:05.678+00:00, ops=1: remove /a)"
    )
    assert _bundle(snap)["text/plain"] == (
        "StateSnapshot(state_id='s', id='snap-id', version=3, label=None, "
        "time=2026-01-02T03:04:05.678+00:00)"
    )
    assert "StateSnapshot snap-id" in _bundle(snap)["text/html"]
